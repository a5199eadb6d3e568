(ns guestlab.text
  "Text that may go to a person's terminal. A guest's console output is the guest's: it holds
  control sequences (busybox's shell asks the terminal for the cursor position, ESC[6n, at every
  prompt), and a terminal obeys them, answering some into its input. So whatever shows guest bytes
  to a person, an error message or a printed result, escapes them first:

    (escape-controls \"a\\u001b[6nb\") => \"a\\\\u001b[6nb\"   ; the six characters \\u001b, not ESC

  The escapes are Clojure's own string escapes, so a printed string stays readable data.")

(defn- control?
  "A character a terminal acts on rather than shows: C0 controls but newline and tab, DEL, and
  the C1 controls (U+0080-U+009F; U+009B is a one-character CSI on some terminals)."
  [^long c]
  (or (and (< c 0x20) (not= c 0x0a) (not= c 0x09))
      (<= 0x7f c 0x9f)))

(defn- escape ^String [^long c]
  (case (int c)
    0x0d "\\r"
    0x08 "\\b"
    0x0c "\\f"
    (format "\\u%04x" c)))

(defn escape-controls
  "s (any value, as by str) with every control character but newline and tab written as an escape:
  \\r, \\b, \\f, or \\uXXXX (ESC is \\u001b). Returns s itself when there is nothing to escape."
  ^String [s]
  (let [^String s (str s)
        n (.length s)]
    (if-not (loop [i 0] (and (< i n) (or (control? (long (.charAt s i))) (recur (inc i)))))
      s
      (let [sb (StringBuilder. (+ n 16))]
        (dotimes [i n]
          (let [c (.charAt s i)]
            (if (control? (long c)) (.append sb (escape (long c))) (.append sb c))))
        (str sb)))))

(defn console-lines
  "A console's text as lines for a person: carriage returns before line feeds dropped (serial
  consoles end lines with CR LF), the rest escaped by escape-controls."
  ^String [s]
  (escape-controls (.replace (str s) "\r\n" "\n")))
