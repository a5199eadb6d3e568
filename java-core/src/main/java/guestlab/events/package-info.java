/** What a guest's devices did, as {@link guestlab.events.Event} records on a per-guest {@link guestlab.events.EventBus}, and per-queue counters. Used by every layer above memory. */
package guestlab.events;
