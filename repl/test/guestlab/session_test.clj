(ns guestlab.session-test
  (:require [clojure.test :refer [deftest is testing]]
            [guestlab.session :as session]))

(defn- run-input
  "Evaluates text in session s; returns [outcome values errors]."
  [s text]
  (let [values (atom []) errors (atom [])
        job (session/evaluate! s text {:value #(swap! values conj %) :caught (fn [e _] (swap! errors conj e))})]
    [(session/outcome job 10000) @values @errors]))

(deftest a-session-keeps-its-bindings-from-one-input-to-the-next
  (let [s (session/session {})]
    (try
      (is (= [:done [3 4] []] (run-input s "(+ 1 2) (inc 3)")) "every form of an input, in order")
      (is (= [:done [4] []] (run-input s "*1")))
      (is (= [:done [[4 3]] []] (run-input s "[*2 *3]")))
      (run-input s "(ns session-test.scratch) (def x 42)")
      (is (= 'session-test.scratch (ns-name (session/current-ns s))) "in-ns stays")
      (is (= [:done [42] []] (run-input s "x")))
      (let [[outcome _ [e]] (run-input s "(/ 1 0)")]
        (is (= :error outcome))
        (is (instance? ArithmeticException e))
        (is (= [:done [ArithmeticException] []] (run-input s "(class *e)")) "*e is the last error"))
      (finally
        (session/close! s)
        (remove-ns 'session-test.scratch)))))

(deftest an-interrupt-ends-a-waiting-evaluation-and-the-session-goes-on
  (let [s (session/session {})
        started (promise)]
    (try
      (intern 'user 'started-for-test started)
      (let [job (session/evaluate! s "(deliver user/started-for-test true) (Thread/sleep 60000) :never"
                                   {:value (fn [_]) :caught (fn [_ _])})]
        (is (deref started 10000 false))
        (is (true? (session/interrupt! s)))
        (is (= :interrupted (session/outcome job 10000))))
      (is (nil? (session/interrupt! s)) "nothing left to interrupt")
      (is (= [:done [:after] []] (run-input s ":after")))
      (is (= [:done [false] []] (run-input s "(Thread/interrupted)")) "the interrupt does not leak into the next input")
      (finally
        (ns-unmap 'user 'started-for-test)
        (session/close! s)))))

(deftest an-evaluation-that-ignores-interrupts-is-left-behind
  (let [s (session/session {})
        stop (atom false)
        started (promise)]
    (try
      (intern 'user 'stop-for-test stop)
      (intern 'user 'started-for-test started)
      (run-input s "(def kept :before)")
      (let [job (session/evaluate! s "(deliver user/started-for-test true) (loop [] (when-not @user/stop-for-test (recur)))"
                                   {:value (fn [_]) :caught (fn [_ _])})]
        (is (deref started 10000 false))
        (session/interrupt! s)
        (is (nil? (session/outcome job 300)) "a busy loop does not notice")
        (session/abandon! s)
        (is (= :abandoned (session/outcome job 0))))
      (is (= [:done [:before] []] (run-input s "kept")) "a new thread, the same bindings")
      (finally
        (reset! stop true)
        (ns-unmap 'user 'stop-for-test)
        (ns-unmap 'user 'started-for-test)
        (ns-unmap 'user 'kept)
        (session/close! s)))))
