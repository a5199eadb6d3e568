/** Native access through FFM only: libc calls with errno, memfd and mmap, eventfd, unix sockets with SCM_RIGHTS, positioned file I/O. The bottom layer; it knows nothing of guests. */
package guestlab.posix;
