(ns guestlab.errors-test
  "The rule of issue 9 on the REPL side: a stopped guest, a missing device, a queue that does not
  exist or a bad argument gives a one-line guestlab error naming the thing, never a crash or a
  hang. Every case runs on a real :sim guest."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [guestlab.check :as check]
            [guestlab.console :as con]
            [guestlab.errors :as err]
            [guestlab.guest :as g]
            [guestlab.rings :as rings]
            [guestlab.sim :as sim]
            [guestlab.topology :as topo]))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(defn- disk []
  (let [f (doto (java.io.File/createTempFile "errors-test" ".img") (.deleteOnExit))]
    (with-open [r (java.io.RandomAccessFile. f "rw")] (.setLength r (* 1024 1024)))
    (str f)))

(defn- full-guest
  "A sim guest with one device of each kind: console0 block0 net0 rng0."
  [guest-name]
  (g/start! {:name guest-name :devices [[:console] [:block {:file (disk)}] [:net {:switch :errors-lan}] [:rng]]}))

(defn- error-of
  "The guestlab error (ex-info) that calling f throws, or a description of what happened instead."
  [f]
  (try (let [v (f)] {:returned v})
       (catch clojure.lang.ExceptionInfo e e)
       (catch Throwable t {:threw t})))

(defmacro ^:private err-of [& body] `(error-of (fn [] ~@body)))

(defn- one-line-guestlab-error?
  "Whether e is a guestlab error whose message is one line and matches re."
  [e re]
  (and (instance? clojure.lang.ExceptionInfo e)
       (some? (err/guestlab-error e))
       (not (str/includes? (ex-message e) "\n"))
       (boolean (re-find re (ex-message e)))))

(defmacro ^:private says [re & body]
  `(let [e# (err-of ~@body)]
     (is (one-line-guestlab-error? e# ~re)
         (str "expected a one-line guestlab error matching " ~re ", got "
              (if (instance? Throwable e#) (pr-str (ex-message e#) (ex-data e#)) (pr-str e#))))))

(defn- spec-error [spec] (err-of (g/validate! spec)))

;; --- a stopped guest ---------------------------------------------------------

(def ^:private not-a-guest-fn
  "Public vars of guestlab.rings and guestlab.sim that take no guest."
  '#{rings/max-bytes rings/format-queues rings/hexdump rings/format-chain rings/format-event
     rings/stop! rings/trace-summary rings/ethernet-frame sim/max-bytes sim/max-block-bytes})

(defn- calls-on
  "Each public function of guestlab.rings and guestlab.sim that takes a guest, and those of
  guestlab.console, with arguments that are good for a running guest like vm."
  [vm]
  {'rings/queues [[vm] [vm :block0]]
   'rings/print-queues [[vm] [vm :rng0]]
   'rings/peek [[vm 0 16]]
   'rings/poke [[vm 0 [1 2 3]]]
   'rings/chain [[vm :block0 0] [vm :block0 0 {:head 0}]]
   'rings/next-chain [[vm :rng0 0 :timeout-ms 100]]
   'rings/print-chain [[vm :block0 0] [vm :block0 0 {:head 0}]]
   'rings/trace [[vm :print? false]]
   'rings/inject! [[vm :net0 (byte-array 60)] [vm :console0 "typed"]]
   'sim/block-write! [[vm :block0 0 (byte-array 512)]]
   'sim/block-read [[vm :block0 0 512]]
   'sim/block-flush! [[vm :block0]]
   'sim/block-capacity [[vm :block0]]
   'sim/console-write! [[vm :console0 "hi"]]
   'sim/console-read [[vm :console0] [vm :console0 10]]
   'sim/rng-read [[vm :rng0 8]]
   'sim/net-mac [[vm :net0]]
   'sim/net-send! [[vm :net0 (byte-array 60)]]
   'sim/net-receive [[vm :net0] [vm :net0 10]]
   'con/expect [[vm #"x" :timeout-ms 10]]
   'con/send-line [[vm "ls"]]
   'con/run [[vm "ls"]]
   'con/output [[vm]]
   'con/put! [[vm "local.bin" "/root/local.bin"]]
   'con/get! [[vm "/root/local.bin" "local.bin"]]})

(def ^:private aliases {"rings" 'guestlab.rings "sim" 'guestlab.sim "con" 'guestlab.console})

(defn- publics
  "The public vars of a namespace as alias/name symbols; the protocol of guestlab.console (its
  -methods, called only through the functions) left out."
  [ns-sym alias]
  (set (for [[sym v] (ns-publics ns-sym)
             :when (not (and (= 'guestlab.console ns-sym) (or (str/starts-with? (name sym) "-") (not (fn? @v)))))]
         (symbol alias (name sym)))))

(defn- fn-of [alias-sym] (ns-resolve (aliases (namespace alias-sym)) (symbol (name alias-sym))))

(deftest every-function-on-a-stopped-sim-guest-says-it-is-stopped
  (let [vm (full-guest "e1")
        calls (calls-on vm)]
    (testing "the table names every public function of rings, sim and console"
      (is (= (into (publics 'guestlab.rings "rings") (publics 'guestlab.sim "sim"))
             (into not-a-guest-fn (remove #(= "con" (namespace %)) (keys calls)))))
      (is (= (publics 'guestlab.console "con") (set (filter #(= "con" (namespace %)) (keys calls))))))
    (testing "the calls work on the running guest (so the table's arguments are good)"
      (sim/block-write! vm :block0 0 (byte-array 512)) ; block0 q0 has taken a chain now
      (doseq [[f arg-lists] calls
              :when (not (#{'rings/next-chain 'con/run 'con/expect 'con/put! 'con/get!} f)) ; these wait, or need a shell
              args arg-lists]
        (let [r (err-of (with-out-str (apply (fn-of f) args)))]
          (is (not (instance? Throwable r)) (str f " on a running guest: " (when (instance? Throwable r) (ex-message r)))))))
    (g/stop! vm)
    (doseq [[f arg-lists] calls
            args arg-lists]
      (testing (str f)
        (let [e (err-of (with-out-str (apply (fn-of f) args)))]
          (is (one-line-guestlab-error? e #"guest e1 is stopped")
              (str f " returned or threw " (if (instance? Throwable e) (ex-message e) (pr-str e))))
          (is (= :stopped (err/guestlab-error e)))
          (is (= "e1" (:guest (ex-data e)))))))))

(deftest the-guest-functions-refuse-a-stopped-guest-where-it-matters
  (let [vm (g/start! {:name "e2" :devices [[:rng]]})]
    (g/stop! vm)
    (says #"^g/pause!: guest e2 is stopped$" (g/pause! vm))
    (says #"^g/resume!: guest e2 is stopped$" (g/resume! vm))
    (says #"^g/subscribe!: guest e2 is stopped$" (g/subscribe! vm identity))
    (says #"^g/event-stream: guest e2 is stopped$" (g/event-stream vm))
    (testing "what stays true of a stopped guest can still be asked"
      (is (= :stopped (g/state vm)))
      (is (some #(= "stopped" (:detail %)) (g/events vm)))
      (is (nil? (g/stop! vm)) "stopping twice is harmless"))))

(deftest a-failure-because-the-guest-was-stopped-meanwhile-says-so
  (let [vm (g/start! {:name "e3" :devices [[:rng]]})]
    (g/stop! vm)
    (let [e (err-of (check/guarded* "rings/peek" vm #(throw (IllegalStateException. "memory released"))))]
      (is (one-line-guestlab-error? e #"^rings/peek: guest e3 is stopped$"))
      (is (= "memory released" (ex-message (ex-cause e))) "the engine's own error is its cause"))))

;; --- a device or queue that does not exist -----------------------------------

(deftest a-missing-device-is-named-with-the-ones-the-guest-has
  (let [vm (full-guest "a")
        has #"guest a has no device :blk9 \(it has: console0 block0 net0 rng0\)$"]
    (says has (rings/queues vm :blk9))
    (says has (rings/print-queues vm :blk9))
    (says has (rings/chain vm :blk9 0))
    (says has (rings/next-chain vm :blk9 0 :timeout-ms 10))
    (says has (rings/trace vm :device :blk9))
    (says has (rings/inject! vm :blk9 "x"))
    (says has (sim/block-read vm :blk9 0 512))
    (says has (sim/rng-read vm :blk9 8))
    (says has (con/expect vm #"x" :device :blk9 :timeout-ms 10))
    (says #"guest a has no device \"blk9\"" (sim/net-mac vm "blk9"))
    (testing "a device of another kind than the function drives"
      (says #"^sim/block-read: rng0 of guest a is a rng device, not a block device \(its block devices: block0\)$"
            (sim/block-read vm :rng0 0 512))
      (says #"^sim/rng-read: block0 of guest a is a block device, not a rng device" (sim/rng-read vm :block0 8))
      (says #"^rings/inject!: rng0 of guest a has no receive queue the host can feed" (rings/inject! vm :rng0 "x")))
    (testing "a :sim guest on a :qemu-only function"
      (says #"^con/run: guest a is a :sim guest; run needs a guest with a shell" (con/run vm "ls")))))

(deftest a-queue-that-does-not-exist-is-named-with-the-ones-there-are
  (let [vm (full-guest "a")]
    (says #"^rings/chain: block0 of guest a has no queue 5 \(it has 0\.\.0\)$" (rings/chain vm :block0 5))
    (says #"^rings/chain: net0 of guest a has no queue 2 \(it has 0\.\.1\)$" (rings/chain vm :net0 2))
    (says #"^rings/next-chain: rng0 of guest a has no queue 1 \(it has 0\.\.0\)$" (rings/next-chain vm :rng0 1 :timeout-ms 10))
    (says #"^rings/trace: block0 of guest a has no queue 9 \(it has 0\.\.0\)$" (rings/trace vm :device :block0 :queue 9))
    (says #"^rings/chain: queue must be a queue index \(an integer from 0\), not -1$" (rings/chain vm :block0 -1))
    (says #"^rings/chain: queue must be a queue index \(an integer from 0\), not \"0\"$" (rings/chain vm :block0 "0"))
    (says #"^rings/chain: rng0 q0 of guest a has taken no chain yet" (rings/chain vm :rng0 0))))

;; --- bad arguments -----------------------------------------------------------

(deftest bad-arguments-are-named-in-one-line
  (let [vm (full-guest "a")]
    (testing "no guest at all"
      (says #"^rings/peek: guest must be a guest from g/start!, not nil$" (rings/peek nil 0 4))
      (says #"^rings/poke: guest must be a guest from g/start!, not \"a\"$" (rings/poke "a" 0 [1]))
      (says #"^rings/chain: guest must be a guest from g/start!, not \{:name \"a\"\}$" (rings/chain {:name "a"} :block0 0))
      (says #"^rings/inject!: guest must be a guest from g/start!, not 42$" (rings/inject! 42 :net0 "x"))
      (says #"^con/run: guest must be a guest from g/start!, not nil$" (con/run nil "ls"))
      (says #"^con/expect: guest must be a guest from g/start!, not :a$" (con/expect :a #"x"))
      (says #"^sim/rng-read: guest must be a guest from g/start!, not nil$" (sim/rng-read nil :rng0 8))
      (says #"^sim/block-read: guest must be a guest from g/start!, not a java.lang.Object$" (sim/block-read (Object.) :block0 0 512))
      (says #"^g/stop!: guest must be a guest from g/start!, not nil$" (g/stop! nil))
      (says #"^g/state: guest must be a guest from g/start!, not \"a\"$" (g/state "a")))
    (testing "rings/peek and rings/poke"
      (says #"^rings/peek: n must be a positive integer up to 1048576, not -3$" (rings/peek vm 0 -3))
      (says #"^rings/peek: n must be a positive integer up to 1048576, not 0$" (rings/peek vm 0 0))
      (says #"^rings/peek: n must be a positive integer up to 1048576, not 1073741824$" (rings/peek vm 0 (* 1024 1024 1024)))
      (says #"^rings/peek: n must be a positive integer up to 1048576, not \"4\"$" (rings/peek vm 0 "4"))
      (says #"^rings/peek: addr must be a guest-physical address \(an integer from 0\), not -1$" (rings/peek vm -1 4))
      (says #"^rings/peek: addr must be a guest-physical address \(an integer from 0\), not nil$" (rings/peek vm nil 4))
      (says #"^rings/peek: 0x40000000\+4 is not inside a's memory" (rings/peek vm (* 1024 1024 1024) 4))
      (says #"^rings/peek: 0x7fffffffffffffff\+4 is not inside a's memory" (rings/peek vm Long/MAX_VALUE 4))
      (says #"^rings/poke: data must be a byte array or a sequence of numbers 0-255, of 1 to 1048576 bytes, not \[1 2 :x\]$"
            (rings/poke vm 0 [1 2 :x]))
      (says #"^rings/poke: data must be .*, not \[\]$" (rings/poke vm 0 []))
      (says #"^rings/poke: data must be .*, not \[1 256\]$" (rings/poke vm 0 [1 256]))
      (says #"^rings/poke: data must be .*, not nil$" (rings/poke vm 0 nil))
      (says #"^rings/poke: data must be .*, not a byte array of 2097152 bytes$" (rings/poke vm 0 (byte-array (* 2 1024 1024))))
      (says #"^rings/poke: data must be .*, not \(0 0 0 0 0 0 0 0 \.\.\.\)$" (rings/poke vm 0 (repeat 0)))
      (says #"^rings/poke: addr must be a guest-physical address" (rings/poke vm -4096 [1])))
    (testing "rings/chain"
      (sim/block-write! vm :block0 0 (byte-array 512))
      (says #"^rings/chain: opts must be a map like \{:avail i\}, \{:head h\} or \{:max-bytes n\}, not \[\]$" (rings/chain vm :block0 0 []))
      (says #"^rings/chain: :head must be an integer from 0 to 127, not 128$" (rings/chain vm :block0 0 {:head 128}))
      (says #"^rings/chain: :avail must be an integer from 0 to 65535, not -1$" (rings/chain vm :block0 0 {:avail -1}))
      (says #"^rings/chain: :max-bytes must be an integer from 0 to 1048576, not 99999999$" (rings/chain vm :block0 0 {:max-bytes 99999999}))
      (says #"^rings/chain: device must be a device name like :block0, not 0$" (rings/chain vm 0 0))
      (says #"^rings/next-chain: :timeout-ms must be a timeout in milliseconds from 0 to 3600000 \(an hour\), not -1$"
            (rings/next-chain vm :block0 0 :timeout-ms -1))
      (says #"^rings/next-chain: :timeout-ms must be .*, not 99999999999$" (rings/next-chain vm :block0 0 :timeout-ms 99999999999))
      (says #"^rings/print-chain: c must be a chain from rings/chain, not nil$" (rings/print-chain nil)))
    (testing "rings/inject! and the rest of rings"
      (says #"^rings/inject!: data must be a byte array or a string, of 1 to 1048576 bytes, not nil$" (rings/inject! vm :net0 nil))
      (says #"^rings/inject!: data must be .*, not 42$" (rings/inject! vm :console0 42))
      (says #"^rings/inject!: data must be .*, not \"\"$" (rings/inject! vm :console0 ""))
      (says #"^rings/inject!: data must be .*, not a byte array of 1048577 bytes$" (rings/inject! vm :net0 (byte-array (inc (* 1024 1024)))))
      (says #"^rings/inject!: net0 of guest a cannot take this data: an Ethernet frame is 14 to 1514 bytes" (rings/inject! vm :net0 (byte-array 5)))
      (says #"^rings/trace: :limit must be a positive integer up to 10000000, not 0$" (rings/trace vm :limit 0))
      (says #"^rings/stop!: t must be a trace from rings/trace, not nil$" (rings/stop! nil))
      (says #"^rings/hexdump: b must be a byte array, not \"abc\"$" (rings/hexdump "abc"))
      (says #"^rings/format-queues: qs must be a vector of queues from rings/queues, not 42$" (rings/format-queues 42))
      (says #"^rings/ethernet-frame: dst must be a MAC address like \"52:54:00:12:34:56\", not \"nope\"$"
            (rings/ethernet-frame "nope" "52:54:00:00:00:01" 0x88b5 "x"))
      (says #"^rings/ethernet-frame: ether-type must be an integer from 0 to 65535, not 70000$"
            (rings/ethernet-frame "52:54:00:00:00:02" "52:54:00:00:00:01" 70000 "x")))
    (testing "con/run and con/expect"
      (says #"^con/expect: re must be a regex like #\"login: \", not \"login\"$" (con/expect vm "login"))
      (says #"^con/expect: :timeout-ms must be a timeout in milliseconds from 0 to 3600000 \(an hour\), not -5$"
            (con/expect vm #"x" :timeout-ms -5))
      (says #"^con/expect: :timeout-ms must be .*, not 1\.5$" (con/expect vm #"x" :timeout-ms 1.5))
      (says #"^con/send-line: text must be a string, not nil$" (con/send-line vm nil))
      (says #"^con/run: command must be a shell command \(a string\), not nil$" (con/run vm nil))
      (says #"^con/run: command must be a shell command \(a string\), not \[\"ls\"\]$" (con/run vm ["ls"]))
      (says #"^con/run: :timeout-ms must be .*, not -1$" (con/run vm "ls" :timeout-ms -1)))
    (testing "sim/*"
      (says #"^sim/rng-read: n must be a positive integer up to 1048576, not -3$" (sim/rng-read vm :rng0 -3))
      (says #"^sim/rng-read: n must be a positive integer up to 1048576, not 2097152$" (sim/rng-read vm :rng0 (* 2 1024 1024)))
      (says #"^sim/rng-read: n must be a positive integer up to 1048576, not \"8\"$" (sim/rng-read vm :rng0 "8"))
      (says #"^sim/rng-read: device must be a device name like :block0, not nil$" (sim/rng-read vm nil 8))
      (says #"^sim/block-read: n must be a positive multiple of 512 up to 67108864, not 500$" (sim/block-read vm :block0 0 500))
      (says #"^sim/block-read: n must be a positive multiple of 512 up to 67108864, not -512$" (sim/block-read vm :block0 0 -512))
      (says #"^sim/block-read: sector must be a sector number \(an integer from 0\), not -1$" (sim/block-read vm :block0 -1 512))
      (says #"^sim/block-read: sectors 2047\.\.2048 are past the end of block0 of guest a \(it has 2048 sectors\)$"
            (sim/block-read vm :block0 2047 1024))
      (says #"^sim/block-write!: sector 2048 is past the end of block0 of guest a \(it has 2048 sectors\)$"
            (sim/block-write! vm :block0 2048 (byte-array 512)))
      (says #"^sim/block-write!: data must be a byte array of a whole number of 512-byte sectors, up to 67108864 bytes, not a byte array of 100 bytes$"
            (sim/block-write! vm :block0 0 (byte-array 100)))
      (says #"^sim/block-write!: data must be .*, not \"text\"$" (sim/block-write! vm :block0 0 "text"))
      (says #"^sim/console-write!: text must be a string of up to 1048576 characters, not 42$" (sim/console-write! vm :console0 42))
      (says #"^sim/console-read: timeout-ms must be .*, not -1$" (sim/console-read vm :console0 -1))
      (says #"^sim/net-send!: frame must be a byte array of 14 to 1514 bytes \(an Ethernet frame\), not a byte array of 3 bytes$"
            (sim/net-send! vm :net0 (byte-array 3)))
      (says #"^sim/net-send!: frame must be .*, not a byte array of 9000 bytes$" (sim/net-send! vm :net0 (byte-array 9000)))
      (says #"^sim/net-receive: timeout-ms must be .*, not 99999999999$" (sim/net-receive vm :net0 99999999999)))
    (testing "the guest still works after all that"
      (is (= 8 (count (sim/rng-read vm :rng0 8)))))))

(deftest a-read-only-disk-refuses-a-write-by-name
  (let [vm (g/start! {:name "ro" :devices [[:block {:file (disk) :read-only true}]]})]
    (says #"^sim/block-write!: block0 of guest ro is read-only$" (sim/block-write! vm :block0 0 (byte-array 512)))))

;; --- names -------------------------------------------------------------------

(deftest two-running-guests-never-share-a-name
  (let [a (g/start! {:name "a" :devices [[:rng]]})]
    (says #"^g/start!: a guest named a is already running; stop it \(g/stop!\) or give this one another :name$"
          (g/start! {:name "a" :devices [[:console]]}))
    (testing "a paused guest still holds its name"
      (g/pause! a)
      (says #"a guest named a is already running" (g/start! {:name "a" :devices []}))
      (g/resume! a))
    (testing "a topology that brings up a guest of a running name says which"
      (says #"guest a failed to start: g/start!: a guest named a is already running"
            (binding [*out* (java.io.StringWriter.)] (topo/up! {:guests [{:name "a" :devices []}]}))))
    (is (= :running (g/state a)) "the first guest a is untouched")
    (g/stop! a)
    (testing "a stopped guest's name may be used again"
      (let [b (g/start! {:name "a" :devices [[:rng]]})]
        (is (= "a" (.name b)))
        (is (= 4 (count (sim/rng-read b :rng0 4))))))))

;; --- the spec ----------------------------------------------------------------

(deftest unknown-keys-are-refused-with-what-was-meant
  (testing "top-level keys"
    (says #"^invalid guest spec: unknown key :memroy; did you mean :memory\?$" (g/start! {:memroy "64M" :devices []}))
    (says #"^invalid guest spec: unknown key :devics; did you mean :devices\?$" (g/start! {:devics [[:rng]]}))
    (says #"^invalid guest spec: unknown key :engnie; did you mean :engine\?$" (g/start! {:engnie :sim :devices []}))
    (says #"^invalid guest spec: unknown key \"memory\"; did you mean :memory\?$" (g/start! {"memory" "64M" :devices []}))
    (says #"^invalid guest spec: unknown key :colour; valid keys: :devices :engine :initrd :kernel :kit :memory :modules :name :packages$"
          (g/start! {:colour "blue" :devices []})))
  (testing "device options"
    (says #"^invalid guest spec: :block device 0 has no option :fiel; did you mean :file\?$"
          (g/start! {:devices [[:block {:fiel "x.img"}]]}))
    (says #"^invalid guest spec: :net device 1 has no option :swtich; did you mean :switch\?$"
          (g/start! {:devices [[:rng] [:net {:swtich :lan}]]}))
    (says #"^invalid guest spec: :rng device 0 has no option :speed; its options: :name :source :vhost-user$"
          (g/start! {:devices [[:rng {:speed 9}]]}))
    (says #"^invalid guest spec: :console device 0 has no option :hots; did you mean :host\?$"
          (g/start! {:devices [[:console {:hots :stdio}]]})))
  (testing "device kinds"
    (says #"^invalid guest spec: unknown device kind :blokc \(device 0\); did you mean :block\?$"
          (g/start! {:devices [[:blokc {:file "x.img"}]]})))
  (testing "option values"
    (says #"^invalid guest spec: :queues is 0; expected a number of request queues from 1 to 64"
          (g/start! {:devices [[:block {:file "x.img" :queues 0}]]})))
  (testing "what was valid stays valid"
    (is (= {:name "ok" :devices [[:block {:file "x" :read-only true :name "disk"}]]}
           (g/validate! {:name "ok" :devices [[:block {:file "x" :read-only true :name "disk"}]]})))))

(deftest memory-beyond-the-host-or-below-the-engine-is-refused-naming-memory
  (let [ram (re-pattern "this host's RAM \\(\\d+(\\.\\d)? [GM]iB\\), the most one guest may have$")]
    (testing "too much"
      (says (re-pattern (str "^invalid guest spec: :memory \"9999999G\" is more than " ram)) (g/start! {:memory "9999999G" :devices []}))
      (says (re-pattern (str "^invalid guest spec: :memory \"99999999999999999999G\" is more than " ram))
            (g/start! {:memory "99999999999999999999G" :devices []}))
      (says (re-pattern (str "^invalid guest spec: :memory 9223372036854775807 is more than " ram))
            (g/start! {:memory Long/MAX_VALUE :devices []}))
      (is (= :memory (:key (ex-data (err-of (g/start! {:memory "9999999G" :devices []})))))))
    (testing "not whole pages"
      (says #"^invalid guest spec: :memory 1048577 is not a whole number of 4096-byte pages$" (g/start! {:memory 1048577 :devices []}))
      (says #"^invalid guest spec: :memory \"2000000\" is not a whole number of 4096-byte pages$" (g/start! {:memory "2000000" :devices []})))
    (testing "too little for the engine"
      (says #"^invalid guest spec: :memory \"512K\" is less than 1 MiB, the least a :sim guest runs in$" (g/start! {:memory "512K" :devices []}))
      (says #"^invalid guest spec: :memory 4096 is less than 1 MiB" (g/start! {:memory 4096 :devices []}))
      (is (one-line-guestlab-error? (spec-error {:engine :qemu :memory "32M" :devices []})
                                    #"^invalid guest spec: :memory \"32M\" is less than 128 MiB, the least a :qemu guest runs in$")))
    (testing "QEMU takes whole MiB"
      (is (one-line-guestlab-error? (spec-error {:engine :qemu :memory "131076K" :devices []})
                                    #"^invalid guest spec: :memory \"131076K\" is not a whole number of MiB \(QEMU takes memory in MiB\)$")))
    (testing "not a size at all"
      (says #"^invalid guest spec: :memory is \"lots\"; expected a size" (g/start! {:memory "lots" :devices []}))
      (says #"^invalid guest spec: :memory is -64; expected a size" (g/start! {:memory -64 :devices []})))
    (testing "parse-size itself"
      (says #"^not a size: \"99999999999999999999G\" is more bytes than a 64-bit count holds$" (g/parse-size "99999999999999999999G"))
      (says #"^not a size: nil" (g/parse-size nil)))
    (testing "a sane size still starts"
      (is (= :running (g/state (g/start! {:name "mem-ok" :memory "2M" :devices [[:rng]]})))))))

;; --- the helpers -------------------------------------------------------------

(deftest did-you-mean-picks-the-nearest-name-or-lists-them
  (is (= 0 (err/distance "memory" "memory")))
  (is (= 1 (err/distance "memroy" "memory")) "a swap of two letters is one edit")
  (is (= 1 (err/distance "fiel" "file")))
  (is (= 3 (err/distance "" "abc")))
  (is (= :memory (err/closest :memroy [:name :memory :engine])))
  (is (nil? (err/closest :colour [:name :memory :engine])))
  (is (= "did you mean :file?" (err/did-you-mean :fiel #{:file :name :read-only} "its options")))
  (is (= "valid keys: :a :b" (err/did-you-mean :zzzzzz #{:b :a} "valid keys")))
  (is (= "a byte array of 3 bytes" (err/describe (byte-array 3))))
  (is (= "a java.lang.Object" (err/describe (Object.))))
  (is (not (str/includes? (err/describe "a\nb") "\n")) "a value in a message stays on one line")
  (is (= "one two" (err/one-line "one\n  two"))))
