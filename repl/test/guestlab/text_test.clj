(ns guestlab.text-test
  (:require [clojure.test :refer [deftest is]]
            [guestlab.text :as text]))

(deftest control-characters-are-escaped-newlines-and-tabs-kept
  (let [s "plain text\twith a tab\nand a line"]
    (is (identical? s (text/escape-controls s)) "nothing to escape: the same string"))
  (is (= "\\u001b[6n" (text/escape-controls "\u001b[6n")) "ESC, the start of every terminal sequence")
  (is (= "a\\u0007b\\rc\\bd\\fe\\u0000\\u007f\\u009b" (text/escape-controls "a\u0007b\rc\bd\fe\u0000\u007f\u009b")))
  (is (= "caf\u00e9 \u2192 ok" (text/escape-controls "caf\u00e9 \u2192 ok")) "printable text beyond ASCII stays")
  (is (= "\u001b" (read-string (str "\"" (text/escape-controls "\u001b") "\""))) "the escapes are Clojure's: the text reads back")
  (is (= "line 1\nline 2 \\u001b[0m" (text/console-lines "line 1\r\nline 2 \u001b[0m")) "serial consoles' CR LF is a line break"))
