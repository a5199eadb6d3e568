/** Coverage-guided fuzz targets (Jazzer @FuzzTest) for every parser a guest or a front-end feeds, their stored inputs run as regression tests, and the independent reference readings they compare against. */
package guestlab.fuzz;
