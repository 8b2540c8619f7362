// Package smtp is internal to the tpi-workers fleet: it is the SMTP adapter of the email worker,
// built on github.com/wneessen/go-mail.
//
// A [Client] keeps a small pool of authenticated connections and reuses them across messages
// (the original opened one connection per email). A connection is discarded after any failed
// send, so the next message starts from a fresh session. Errors are classified: a 5xx reply
// for the message (sender, recipient or data rejected) is an [*Error] whose Permanent method
// reports true; 4xx replies, refused connections and timeouts are temporary.
package smtp
