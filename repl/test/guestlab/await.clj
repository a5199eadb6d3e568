(ns guestlab.await
  "The Clojure tests' one \"poll until a condition holds or a deadline passes\" (the Java tests
  have guestlab.testing.Await). For what a test must see happen; never to wait for something not
  to happen: wait for a later event that is ordered after it instead.")

(defn until
  "Calls (f) until (ok? value) holds, at most timeout-ms (10 s unless given); returns the value
  accepted. If it never comes, throws \"timed out after N ms waiting for <what>; last seen: <value>\"."
  ([what f ok?] (until what f ok? 10000))
  ([what f ok? timeout-ms]
   (let [start (System/nanoTime)]
     (loop [pause 1]
       (let [v (f)]
         (cond (ok? v) v
               (> (- (System/nanoTime) start) (* timeout-ms 1000000))
               (throw (ex-info (str "timed out after " timeout-ms " ms waiting for " what "; last seen: " (pr-str v))
                               {:what what :last-seen v}))
               :else (do (Thread/sleep (long pause)) (recur (min 20 (* 2 pause))))))))))
