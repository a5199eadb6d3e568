(ns guestlab.console
  "Script a guest's console: wait for its output, type into it, run commands.
  A :qemu guest's console is its serial port; a :sim guest's is its virtio console's host end."
  (:require [clojure.string :as str]
            [guestlab.check :as check]
            [guestlab.errors :as err])
  (:import (guestlab.devices BufferConsole BufferConsole$ConsoleTimeoutException)
           (guestlab.engine Guest)
           (guestlab.engine.qemu QemuGuest SerialConsole$ConsoleException)
           (guestlab.engine.sim SimGuest)
           (java.time Duration)
           (java.util.regex Pattern)))

(defprotocol Scriptable
  "A guest whose console the host can script. device names the console where a guest has several."
  (-expect [g fn-name re timeout-ms device])
  (-send [g fn-name text device])
  (-text [g fn-name device])
  (-run [g fn-name command timeout-ms]))

(defn- host-console
  "The host end of sim guest vm's console device, which must have a buffer host (:host :buffer)."
  ^BufferConsole [fn-name ^SimGuest vm device]
  (let [n (check/device-of-kind fn-name vm device :console)]
    (try (.hostConsole vm n)
         (catch IllegalArgumentException _
           (err/fail! :no-host-console (str fn-name ": " n " of guest " (.name vm)
                                            " has no console the host can script (it was started with :host :stdio)")
                      {:fn fn-name :guest (.name vm) :device n})))))

(extend-protocol Scriptable
  QemuGuest
  (-expect [g _ ^Pattern re timeout-ms _] (.group (.expect (.console g) re (Duration/ofMillis timeout-ms))))
  (-send [g _ ^String text _] (.sendLine (.console g) text))
  (-text [g _ _] (.text (.console g)))
  (-run [g _ ^String command timeout-ms]
    (let [r (.run (.console g) command (Duration/ofMillis timeout-ms))]
      {:out (.output r) :exit (.exitCode r)}))

  SimGuest
  (-expect [g fn-name ^Pattern re timeout-ms device] (.awaitText (host-console fn-name g device) re (Duration/ofMillis timeout-ms)))
  (-send [g fn-name text device] (.send (host-console fn-name g device) (str text "\n")))
  (-text [g fn-name device] (.text (host-console fn-name g device)))
  (-run [g fn-name _ _]
    (err/fail! :engine (str fn-name ": guest " (.name g) " is a :sim guest; run needs a guest with a shell (:engine :qemu)")
               {:fn fn-name :guest (.name g) :engine "sim"}))

  Guest
  (-expect [g fn-name _ _ _] (err/fail! :engine (str fn-name ": guest " (.name g) " has no scriptable console") {:fn fn-name :guest (.name g)}))
  (-send [g fn-name _ _] (-expect g fn-name nil nil nil))
  (-text [g fn-name _] (-expect g fn-name nil nil nil))
  (-run [g fn-name _ _] (-expect g fn-name nil nil nil)))

(defn- console-failure
  "A failed console wait from the Java side as a guestlab error (kind :console) whose message
  shows the console's last lines escaped, the raw lines in its data (:console-tail); any other
  exception as it is."
  ^Throwable [fn-name ^Guest vm ^Throwable e]
  (let [what #(str "guest " (.name vm) ": " %)]
    (condp instance? e
      SerialConsole$ConsoleException
      (err/console-error fn-name (what (first (str/split-lines (str (.getMessage e)))))
                         (.consoleTail ^SerialConsole$ConsoleException e) {:guest (.name vm)} e)
      BufferConsole$ConsoleTimeoutException
      (let [[head tail] (str/split (str (.getMessage e)) #"; last console output:\n" 2)]
        (err/console-error fn-name (what head) tail {:guest (.name vm)} e))
      e)))

(defmacro ^:private scripting
  "Runs body; a console failure it throws becomes a guestlab error (console-failure)."
  [fn-name vm & body]
  `(try ~@body (catch Exception e# (throw (console-failure ~fn-name ~vm e#)))))

(defn expect
  "Waits until the guest's console output (since the last expect) matches re; returns the match.
  Options: :timeout-ms (default 10000), :device (sim guests; default :console0). On timeout,
  throws with the last lines of output in the message, control characters escaped (\\u001b for
  ESC); (:console-tail (ex-data e)) has them as the guest wrote them."
  [g re & {:keys [timeout-ms device] :or {timeout-ms 10000 device :console0}}]
  (check/with-guest [vm "con/expect" g]
    (check/arg "con/expect" "re" #(instance? Pattern %) "a regex like #\"login: \"" re)
    (check/timeout-ms "con/expect" ":timeout-ms" timeout-ms)
    (scripting "con/expect" vm (-expect vm "con/expect" re timeout-ms device))))

(defn send-line
  "Types a line (a string) into the guest's console."
  [g text & {:keys [device] :or {device :console0}}]
  (check/with-guest [vm "con/send-line" g]
    (check/arg "con/send-line" "text" string? "a string" text)
    (scripting "con/send-line" vm (-send vm "con/send-line" text device))))

(defn run
  "Runs a shell command in a :qemu guest and returns {:out text :exit code}."
  [g command & {:keys [timeout-ms] :or {timeout-ms 60000}}]
  (check/with-guest [vm "con/run" g]
    (check/arg "con/run" "command" #(and (string? %) (not (str/blank? %))) "a shell command (a string)" command)
    (check/timeout-ms "con/run" ":timeout-ms" timeout-ms)
    (scripting "con/run" vm (-run vm "con/run" command timeout-ms))))

(defn output
  "Everything the guest has written to its console so far."
  [g & {:keys [device] :or {device :console0}}]
  (check/with-guest [vm "con/output" g]
    (-text vm "con/output" device)))
