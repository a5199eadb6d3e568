;; sim-tour: the four virtio devices, end to end, with no QEMU and no KVM.
;;
;; A simulated guest is a guest "kernel" written in Java: it walks the lguest device page
;; above its RAM, negotiates features with each device, places its rings, and drives them
;; exactly as lguest's guest drivers did. Run it with:  ./guestlab run recipes/sim-tour.clj

(require '[guestlab.guest :as g]
         '[guestlab.sim :as sim]
         '[guestlab.console :as con]
         '[guestlab.rings :as rings])

(defn check [ok what]
  (if ok
    (println "  ok:" what)
    (throw (ex-info (str "check failed: " what) {}))))

(defn hex [^bytes bs] (apply str (map #(format "%02x" %) bs)))

;; A 4 MiB disk image in a temporary directory.
(def disk (doto (java.io.File/createTempFile "sim-tour" ".img") (.deleteOnExit)))
(with-open [f (java.io.RandomAccessFile. disk "rw")] (.setLength f (* 4 1024 1024)))

;; 1. Boot a guest with a console, a disk, a network card on switch :lan, and an rng.
(println "\n== booting guest a (engine :sim) ==")
(def a (g/start! {:name "a" :engine :sim :memory "32M"
                  :devices [[:console] [:block {:file (str disk)}] [:net {:switch :lan}] [:rng]]}))
(println "devices on the lguest bus:" (vec (.devices a)))
(rings/print-queues a)

;; 2. Block: write random sectors, flush, read them back, and find them in the image file.
(println "\n== block: write 64 KiB at sector 8, flush, read back ==")
(def data (let [b (byte-array (* 64 1024))] (.nextBytes (java.util.Random. 42) b) b))
(sim/block-write! a :block0 8 data)
(sim/block-flush! a :block0)
(check (java.util.Arrays/equals data (sim/block-read a :block0 8 (alength data)))
       "the guest reads back what it wrote")
(let [file (java.nio.file.Files/readAllBytes (.toPath disk))]
  (check (java.util.Arrays/equals data (java.util.Arrays/copyOfRange file (* 8 512) (+ (* 8 512) (alength data))))
         "after FLUSH the bytes are in the image file"))
(println "capacity (sectors, from config space):" (sim/block-capacity a :block0))
(rings/print-queues a :block0)

;; 3. Console: text both ways.
(println "\n== console: guest -> host, host -> guest ==")
(sim/console-write! a :console0 "hello from the guest\n")
(check (= "hello from the guest" (con/expect a #"hello from the \w+")) "the host saw the guest's line")
(con/send-line a "hello from the host")
(let [got (loop [s "" n 0]
            (if (or (.contains s "\n") (= n 20)) s (recur (str s (sim/console-read a :console0 250)) (inc n))))]
  (check (= "hello from the host\n" got) "the guest read the host's line"))
(rings/print-queues a :console0)

;; 4. Rng: bytes from the host's SecureRandom.
(println "\n== rng: 32 bytes ==")
(let [r (sim/rng-read a :rng0 32)]
  (println "  " (hex r))
  (check (= 32 (alength r)) "32 random bytes"))
(rings/print-queues a :rng0)

;; 5. Net: a second guest joins switch :lan and they trade Ethernet frames.
(println "\n== net: guest b joins switch :lan ==")
(def b (g/start! {:name "b" :engine :sim :memory "16M" :devices [[:net {:switch :lan}]]}))

(defn frame [^bytes dst ^bytes src text]
  (byte-array (concat dst src [(unchecked-byte 0x88) (unchecked-byte 0xb5)] (.getBytes (str text)))))

(let [mac-a (sim/net-mac a :net0)
      mac-b (sim/net-mac b :net0)
      a->b (frame mac-b mac-a "ping from a")
      b->a (frame mac-a mac-b "pong from b")]
  (println "  a is" (hex mac-a) " b is" (hex mac-b))
  (sim/net-send! a :net0 a->b)
  (check (java.util.Arrays/equals a->b (sim/net-receive b :net0 2000)) "b received a's frame intact")
  (sim/net-send! b :net0 b->a)
  (check (java.util.Arrays/equals b->a (sim/net-receive a :net0 2000)) "a received b's frame intact"))
(rings/print-queues a :net0)
(rings/print-queues b :net0)

(g/stop! b)
(g/stop! a)
(println "\nsim-tour: all checks passed")
