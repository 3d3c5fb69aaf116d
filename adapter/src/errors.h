/*
 * errors.h - the calling thread's last error message (private to libevstore).
 *
 * Every public function that fails sets a message naming the cause with evs__set_error()
 * and returns the code; evs_last_error() hands the message back. The message lives in
 * thread-local storage, so threads sharing one client never see each other's messages.
 */
#ifndef EVS_ERRORS_H
#define EVS_ERRORS_H

/* Formats a message into the thread's error slot (truncated to EVS__ERROR_MAX - 1 bytes)
 * and returns code, so callers can write `return evs__set_error(EVS_EINVAL, "...")`. */
int evs__set_error(int code, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Empties the thread's error slot. */
void evs__clear_error(void);

#define EVS__ERROR_MAX 1024

#endif /* EVS_ERRORS_H */
