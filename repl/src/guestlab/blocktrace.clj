(ns guestlab.blocktrace
  "The file faults/record writes and dev/replay reads: a block device's requests and completions,
  one EDN map a line, in the order their completions came back:

    {:i 0 :t-ms 0.4 :op :write :sector 8 :length 1024 :write-sha256 \"9f86...\" :status :ok}
    {:i 1 :t-ms 1.1 :op :read :sector 8 :length 1024 :status :ok :read-sha256 \"9f86...\"}
    {:i 2 :t-ms 1.3 :op :flush :status :ok}

  :t-ms is when the request arrived, in ms since the recording began. Data is kept as its sha256
  (hex); with {:data? true} the bytes are kept too, base64, as :write-data and :read-data, in the
  same line. :faults lists the kinds of fault that acted on the request, if any."
  (:require [clojure.edn :as edn]
            [clojure.string :as str]
            [guestlab.errors :as err])
  (:import (java.nio.charset StandardCharsets)
           (java.nio.file Files OpenOption Path StandardOpenOption)
           (java.security MessageDigest)
           (java.util Base64 HexFormat)))

(defn sha256
  "The sha256 of a byte array, as 64 hex digits."
  [^bytes b]
  (.formatHex (HexFormat/of) (.digest (MessageDigest/getInstance "SHA-256") b)))

(defn base64 ^String [^bytes b] (.encodeToString (Base64/getEncoder) b))
(defn unbase64 ^bytes [^String s] (.decode (Base64/getDecoder) s))

(defn entry
  "The line for request req and its completion c, the ith; data kept when data?."
  [i t-ms {:keys [op sector length data] :as _req} c data?]
  (let [out (:data c)]
    (cond-> {:i i :t-ms t-ms :op op}
      sector (assoc :sector sector)
      length (assoc :length length)
      (bytes? data) (assoc :write-sha256 (sha256 data))
      (and data? (bytes? data)) (assoc :write-data (base64 data))
      true (assoc :status (if (map? c) (:status c) :garbage))
      (bytes? out) (assoc :read-sha256 (sha256 out))
      (and data? (bytes? out)) (assoc :read-data (base64 out))
      (seq (:faults c)) (assoc :faults (mapv :fault (:faults c))))))

(defn append!
  "Appends one entry to the file at path, and closes it again: nothing is lost when recording stops."
  [^Path path e]
  (Files/writeString path (str (pr-str e) "\n") StandardCharsets/UTF_8
                     (into-array OpenOption [StandardOpenOption/CREATE StandardOpenOption/APPEND])))

(defn start!
  "Creates (or empties) the trace file at path."
  [^Path path]
  (Files/writeString path "" StandardCharsets/UTF_8
                     (into-array OpenOption [StandardOpenOption/CREATE StandardOpenOption/TRUNCATE_EXISTING
                                             StandardOpenOption/WRITE])))

(defn read-trace
  "The entries of the trace file at path, in order; a line that is not an entry is a one-line error."
  [fn-name path]
  (let [p (.toPath (java.io.File. (str path)))]
    (when-not (Files/isRegularFile p (make-array java.nio.file.LinkOption 0))
      (err/fail! :argument (str fn-name ": no trace file " path) {:fn fn-name :path (str path)}))
    (->> (str/split-lines (Files/readString p))
         (map-indexed vector)
         (remove (comp str/blank? second))
         (mapv (fn [[n line]]
                 (let [e (try (edn/read-string line) (catch Exception _ nil))]
                   (if (and (map? e) (keyword? (:op e)) (keyword? (:status e)))
                     e
                     (err/fail! :argument (str fn-name ": line " (inc n) " of " path " is not a trace entry: " (err/describe line))
                                {:fn fn-name :path (str path) :line (inc n)}))))))))
