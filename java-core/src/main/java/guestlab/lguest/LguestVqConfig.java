package guestlab.lguest;

/**
 * struct lguest_vqconfig (lguest_launcher.h, D:135): 8 bytes, {u16 num, u16 irq, u32 pfn}.
 * {@code pfn} is the guest page number of the ring, 0 until the guest has placed it.
 */
public record LguestVqConfig(int num, int irq, long pfn) {
    public static final int SIZE = 8;
    public static final int NUM_OFFSET = 0;
    public static final int IRQ_OFFSET = 2;
    public static final int PFN_OFFSET = 4;
}
