(ns guestlab.console
  "Script a guest's console: wait for its output, type into it, run commands, copy files in and
  out (put!, get!). A :qemu guest's console is its serial port; a :sim guest's is its virtio
  console's host end."
  (:require [clojure.string :as str]
            [guestlab.check :as check]
            [guestlab.errors :as err]
            [guestlab.guest :as g])
  (:import (guestlab.devices BufferConsole BufferConsole$ConsoleTimeoutException)
           (guestlab.engine Guest)
           (guestlab.engine.qemu FileTransferException GuestFiles GuestFiles$Transfer QemuGuest
                                 SerialConsole$ConsoleException)
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

;; --- files in and out --------------------------------------------------------

(defn- files-of
  "The file copier of guest vm, which must have a shell: a :qemu guest."
  ^GuestFiles [fn-name ^Guest vm]
  (if (instance? QemuGuest vm)
    (.files ^QemuGuest vm)
    (err/fail! :engine (str fn-name ": guest " (.name vm) " is a :" (.engine vm) " guest, which has no shell to copy files with;"
                            " " fn-name " needs a guest with :engine :qemu")
               {:fn fn-name :guest (.name vm) :engine (.engine vm)})))

(defn- local-path
  ^java.nio.file.Path [fn-name arg x]
  (check/arg fn-name arg #(or (and (string? %) (not (str/blank? %))) (instance? java.io.File %) (instance? java.nio.file.Path %))
             "a host file path (a string, File or Path)" x)
  (if (instance? java.nio.file.Path x) x (.toPath (java.io.File. (str x)))))

(defn- check-guest-path [fn-name arg x]
  (check/arg fn-name arg #(and (string? %) (str/starts-with? % "/")) "an absolute path in the guest (a string starting with /)" x))

(defn- progress-lines
  "A consumer of progress lines for guestlab.guest/*progress* (nil: none)."
  ^java.util.function.Consumer []
  (let [say g/*progress*]
    (reify java.util.function.Consumer
      (accept [_ line] (when say (say line))))))

(defn- transfer
  "Runs a transfer of guest vm; a failure becomes a one-line guestlab error (kind :transfer, or
  :console for a console that stopped answering)."
  [fn-name ^Guest vm guest-path f]
  (let [^GuestFiles files (files-of fn-name vm)
        ^GuestFiles$Transfer t (try (f files)
                                    (catch FileTransferException e
                                      (err/fail! :transfer (str fn-name ": " (.getMessage e)) {:fn fn-name :guest (.name vm) :path guest-path} e))
                                    (catch SerialConsole$ConsoleException e
                                      (throw (console-failure fn-name vm e)))
                                    (catch java.io.IOException e
                                      (err/fail! :transfer (str fn-name ": " guest-path " in guest " (.name vm) ": " e) {:fn fn-name :guest (.name vm) :path guest-path} e)))]
    {:bytes (.bytes t) :sha256 (.sha256 t) :seconds (/ (.toMillis (.took t)) 1e3)}))

(defn put!
  "Copies the host file local (a path) to guest-path (absolute) in a :qemu guest, through a
  transfer disk guestlab gives every :qemu guest (its last virtio disk, serial guestlab-files):
  any bytes, any size the guest's filesystem has room for. The guest's sha256 of its copy must
  equal the host's before the copy takes guest-path's name (an existing file there is replaced);
  if anything fails, the error names the path and nothing is written there. Returns
  {:bytes n :sha256 hex :seconds s}; a line on guestlab.guest/*progress* says how it went. One
  transfer per guest at a time: another waits for it."
  [g local guest-path]
  (check/with-guest [vm "con/put!" g]
    (let [from (local-path "con/put!" "local" local)]
      (check-guest-path "con/put!" "guest-path" guest-path)
      (transfer "con/put!" vm guest-path #(.put ^GuestFiles % from ^String guest-path (progress-lines))))))

(defn get!
  "Copies the regular file guest-path (absolute) of a :qemu guest to the host file local, through
  the guest's transfer disk (see put!). The host's sha256 of the bytes received must equal the
  guest's of its file before they take local's name (an existing file there is replaced); if
  anything fails, the error names the path and nothing is written there. Returns
  {:bytes n :sha256 hex :seconds s}."
  [g guest-path local]
  (check/with-guest [vm "con/get!" g]
    (check-guest-path "con/get!" "guest-path" guest-path)
    (let [to (local-path "con/get!" "local" local)]
      (transfer "con/get!" vm guest-path #(.get ^GuestFiles % ^String guest-path to (progress-lines))))))
