(ns guestlab.devices.replay
  "A trace faults/record wrote, re-issued against a block handler and compared, request by
  request, with what was recorded."
  (:require [guestlab.blocktrace :as trace]
            [guestlab.devices.scratch :as scratch]
            [guestlab.errors :as err])
  (:import (guestlab.devices BlockHandler)))

(def ^:private replayable #{:read :write :flush :get-id})

(defn- replay-entry
  "Entry e re-issued through h: nil when its completion is the recorded one, else the mismatch."
  [fn-name file h {:keys [i op write-data write-sha256] :as e}]
  (let [data (when (= :write op)
               (when-not write-data
                 (err/fail! :argument (str fn-name ": write " i " of " file " was recorded without its data;"
                                           " record with (faults/record path {:data? true}) to replay writes")
                            {:fn fn-name :index i}))
               (let [b (trace/unbase64 write-data)]
                 (when (and write-sha256 (not= write-sha256 (trace/sha256 b)))
                   (err/fail! :argument (str fn-name ": write " i " of " file " has data that does not match its sha256") {:fn fn-name :index i}))
                 b))
        {:keys [status] out :data} (scratch/serve h (cond-> (select-keys e [:op :sector :length]) data (assoc :data data)))
        replayed (cond-> {:status status} out (assoc :read-sha256 (trace/sha256 out)))
        recorded (select-keys e [:status :read-sha256])]
    (when (not= recorded replayed)
      {:index i :request (select-keys e [:op :sector :length]) :recorded recorded :replayed replayed})))

(defn replay
  "Re-issues the requests recorded in file, in order, through handler h; fn-name is the function
  to name in an error. {:requests n :matched n :mismatches [...]}, and :skipped n for requests
  that cannot be replayed."
  [fn-name file ^BlockHandler h]
  (let [entries (sort-by :i (trace/read-trace fn-name file))
        todo (filter (comp replayable :op) entries)
        mismatches (into [] (keep #(replay-entry fn-name file h %)) todo)]
    (cond-> {:requests (count todo) :matched (- (count todo) (count mismatches)) :mismatches mismatches}
      (< (count todo) (count entries)) (assoc :skipped (- (count entries) (count todo))))))
