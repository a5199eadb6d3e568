(ns guestlab.errors
  "guestlab's errors as a person at the REPL sees them: an ex-info whose message is one line
  naming the thing at fault, and whose data says what kind of error it is:

    (ex-message e) => \"rings/peek: n must be a positive integer up to 1048576, not -3\"
    (ex-data e)    => {:guestlab/error :argument :fn \"rings/peek\" :argument \"n\" :value -3}

  Also the \"did you mean\" for a mistyped name, and errors that carry a guest's console lines
  (escaped for a terminal, raw in the data). Nothing here knows about guests."
  (:require [clojure.string :as str]
            [guestlab.text :as text]))

(defn one-line
  "s as one line: each line break, with the blanks around it, becomes a single space."
  [s]
  (str/trim (str/replace (str s) #"[ \t]*[\r\n]+[ \t]*" " ")))

(defn error
  "An ex-info with a one-line message and data {:guestlab/error kind ...}."
  ([kind msg] (error kind msg {} nil))
  ([kind msg data] (error kind msg data nil))
  ([kind msg data cause] (ex-info (one-line msg) (assoc data :guestlab/error kind) cause)))

(defn fail!
  "Throws (error kind msg data cause)."
  ([kind msg data] (throw (error kind msg data nil)))
  ([kind msg data cause] (throw (error kind msg data cause))))

(defn guestlab-error
  "The kind of guestlab error e is (:stopped, :argument, ...), or nil if it is none."
  [e]
  (:guestlab/error (ex-data e)))

;; --- errors that show a console ------------------------------------------------

(defn console-error
  "An ex-info for a console wait that failed, kind :console: \"<fn-name>: <what>\", then the
  console's last lines, escaped (guestlab.text/console-lines) so that no control sequence of the
  guest's reaches a terminal through the message. The lines as the guest wrote them are in the
  data, as :console-tail."
  [fn-name what tail data cause]
  (ex-info (str fn-name ": " (text/escape-controls (one-line what))
                (when-not (str/blank? tail) (str "\n--- last console lines ---\n" (text/console-lines tail))))
           (assoc data :guestlab/error :console :fn fn-name :console-tail (str tail))
           cause))

;; --- values in messages ------------------------------------------------------

(def ^:private max-shown 60)

(defn describe
  "A value as a message shows it: Clojure data printed (in at most 60 characters), byte arrays
  by their length, other objects by their class."
  [x]
  (cond
    (bytes? x) (str "a byte array of " (alength ^bytes x) " bytes")
    (or (nil? x) (boolean? x) (number? x) (string? x) (keyword? x) (symbol? x) (char? x) (coll? x)
        (instance? java.util.regex.Pattern x))
    (let [s (one-line (binding [*print-length* 8 *print-level* 3] (pr-str x)))]
      (if (> (count s) max-shown) (str (subs s 0 (- max-shown 3)) "...") s))
    :else (str "a " (.getName (class x)))))

(defn bad-arg!
  "Throws \"<fn-name>: <arg> must be <expected>, not <value>\", e.g.
  \"rings/peek: n must be a positive integer up to 1048576, not -3\"."
  [fn-name arg expected value]
  (fail! :argument (str fn-name ": " arg " must be " expected ", not " (describe value))
         ;; a lazy (perhaps endless) sequence is kept as its description: printing the data must end
         {:fn fn-name :argument arg :value (if (and (coll? value) (not (counted? value))) (describe value) value)}))

;; --- did you mean ------------------------------------------------------------

(defn distance
  "The edit distance between two strings: inserting, deleting or changing a character, or
  swapping two adjacent ones, costs 1 (optimal string alignment)."
  [a b]
  (let [a (vec (str a)) b (vec (str b)) m (count a) n (count b)
        step (fn [d [i j]]
               (let [cost (if (= (a (dec i)) (b (dec j))) 0 1)
                     best (min (inc (d [(dec i) j])) (inc (d [i (dec j)])) (+ (d [(dec i) (dec j)]) cost))
                     swapped? (and (> i 1) (> j 1) (= (a (dec i)) (b (- j 2))) (= (a (- i 2)) (b (dec j))))]
                 (assoc d [i j] (if swapped? (min best (inc (d [(- i 2) (- j 2)]))) best))))
        edges (into {} (concat (for [i (range (inc m))] [[i 0] i]) (for [j (range (inc n))] [[0 j] j])))]
    ((reduce step edges (for [i (range 1 (inc m)) j (range 1 (inc n))] [i j])) [m n])))

(defn- text [x] (if (keyword? x) (name x) (str x)))

(defn closest
  "The candidate nearest to x, if it is near enough to be what x was meant to be (at most one
  edit in three characters, and one at least); nil otherwise."
  [x candidates]
  (let [s (text x)
        limit (max 1 (quot (count s) 3))]
    (->> candidates
         (map (fn [c] [(distance s (text c)) (text c) c]))
         (filter (fn [[d]] (<= d limit)))
         (sort-by (juxt first second))
         first
         last)))

(defn did-you-mean
  "\"did you mean :memory?\" when a candidate is near x, else \"<label>: :a :b :c\"."
  [x candidates label]
  (if-let [c (closest x candidates)]
    (str "did you mean " (describe c) "?")
    (str label ": " (str/join " " (map describe (sort-by text candidates))))))
