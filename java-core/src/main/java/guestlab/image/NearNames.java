package guestlab.image;

import java.util.Collection;
import java.util.Comparator;
import java.util.List;

/**
 * The names near a mistyped one, for "did you mean" in a refusal: at most one edit in three
 * characters (and one at least), where inserting, deleting or changing a character, or swapping
 * two adjacent ones, is one edit (optimal string alignment) — the rule the REPL's did-you-mean
 * follows for spec keys.
 */
public final class NearNames {
    private NearNames() {}

    /** Up to {@code max} candidates near {@code name}, nearest first (then alphabetical). */
    public static List<String> near(String name, Collection<String> candidates, int max) {
        int limit = Math.max(1, name.length() / 3);
        record Scored(String name, int distance) {}
        return candidates.stream()
                .filter(c -> Math.abs(c.length() - name.length()) <= limit)
                .map(c -> new Scored(c, distance(name, c)))
                .filter(s -> s.distance() <= limit)
                .sorted(Comparator.comparingInt(Scored::distance).thenComparing(Scored::name))
                .limit(max)
                .map(Scored::name)
                .toList();
    }

    /** " (did you mean a or b?)" for the names near {@code name}, else "". */
    public static String didYouMean(String name, Collection<String> candidates) {
        List<String> near = near(name, candidates, 3);
        return near.isEmpty() ? "" : " (did you mean " + String.join(" or ", near) + "?)";
    }

    static int distance(String a, String b) {
        int m = a.length(), n = b.length();
        int[][] d = new int[m + 1][n + 1];
        for (int i = 0; i <= m; i++) d[i][0] = i;
        for (int j = 0; j <= n; j++) d[0][j] = j;
        for (int i = 1; i <= m; i++) {
            for (int j = 1; j <= n; j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[m][n];
    }
}
