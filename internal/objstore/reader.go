package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// errStalled marks a read that got no byte for [Config.StallTimeout].
var errStalled = errors.New("the connection stalled")

// resumeBackoff is the wait before the nth consecutive attempt to resume a
// read (the first is at once).
func resumeBackoff(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	return min(100*time.Millisecond<<(n-1), 5*time.Second)
}

// Object is the body of an object being read, streamed from the store. When
// the connection fails in the middle (a reset, a cut, no byte for
// [Config.StallTimeout]), Read asks for the rest of the object, from the
// byte it stopped at and on condition that the object is still the one it
// started (If-Match its ETag), up to [MaxAttempts] times in a row with a
// backoff, and goes on: the bytes read are the object's, exactly, or Read
// fails. A replaced object fails with [ErrChanged], a deleted one with
// [ErrNotFound].
//
// An Object is bound to the context given to [Store.Open]: its reads fail
// once it is done. It is not safe for concurrent use; Close it.
type Object struct {
	ctx         context.Context
	client      *s3.Client
	bucket, key string
	etag        string
	size, off   int64
	stall       time.Duration

	body     io.ReadCloser // nil between a failure and its resumption
	failures int           // consecutive failed attempts, reset by a byte read
	lastErr  error
	resumes  int
	closed   bool

	timer *time.Timer // closes the body being read when it stalls
	mu    sync.Mutex
	// reading is the body of the Read in progress, closed by timer.
	reading io.Closer
}

// Open starts reading the object bucket/key. The error wraps [ErrNotFound]
// or [ErrAccessDenied] when the store answers so.
func (s *Store) Open(ctx context.Context, bucket, key string) (*Object, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, classify("open", bucket, key, err)
	}
	o := &Object{
		ctx: ctx, client: s.client, bucket: bucket, key: key,
		etag: aws.ToString(out.ETag), size: -1, stall: s.cfg.StallTimeout,
		body: out.Body,
	}
	if out.ContentLength != nil {
		o.size = *out.ContentLength
	}
	o.timer = time.AfterFunc(time.Hour, o.onStall)
	o.timer.Stop()
	return o, nil
}

// Size is the object's length in bytes, or -1 when the store did not say.
func (o *Object) Size() int64 { return o.size }

// Resumes is the number of times a failed read was resumed so far.
func (o *Object) Resumes() int { return o.resumes }

func (o *Object) where() string { return "s3://" + o.bucket + "/" + o.key }

// Read reads the next bytes of the object, resuming a failed connection as
// described at [Object].
func (o *Object) Read(p []byte) (int, error) {
	if o.closed {
		return 0, fmt.Errorf("objstore: read %s: %w", o.where(), fs.ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if o.body == nil {
			if err := o.resume(); err != nil {
				return 0, err
			}
		}
		n, err := o.readBody(p)
		o.off += int64(n)
		if n > 0 {
			o.failures = 0
		}
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && (o.size < 0 || o.off == o.size):
			return n, io.EOF
		case err == io.EOF && o.off > o.size:
			return n, fmt.Errorf("objstore: read %s: %d bytes, more than its length %d", o.where(), o.off, o.size)
		case err == io.EOF:
			err = io.ErrUnexpectedEOF
		}
		if o.ctx.Err() != nil {
			return n, fmt.Errorf("objstore: read %s at byte %d: %w", o.where(), o.off, context.Cause(o.ctx))
		}
		if o.etag == "" || (o.size >= 0 && o.off >= o.size) {
			// No ETag to make sure the rest is of the same object, or
			// the failure came after the last byte (a checksum that does
			// not match): nothing to resume.
			return n, fmt.Errorf("objstore: read %s at byte %d: %w", o.where(), o.off, err)
		}
		o.lastErr = err
		o.body.Close()
		o.body = nil
		if n > 0 {
			return n, nil
		}
	}
}

// readBody reads from the current body, closing it when no byte comes for
// the stall timeout.
func (o *Object) readBody(p []byte) (int, error) {
	o.mu.Lock()
	o.reading = o.body
	o.mu.Unlock()
	o.timer.Reset(o.stall)
	n, err := o.body.Read(p)
	if !o.timer.Stop() {
		// onStall ran or runs: the body is (being) closed.
		err = fmt.Errorf("no byte for %s: %w", o.stall, errStalled)
	}
	o.mu.Lock()
	o.reading = nil
	o.mu.Unlock()
	return n, err
}

func (o *Object) onStall() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reading != nil {
		o.reading.Close()
	}
}

// resume asks for the rest of the object, from o.off, if it still has the
// ETag of the first answer.
func (o *Object) resume() error {
	for {
		if o.failures >= MaxAttempts {
			return fmt.Errorf("objstore: read %s: %d attempts to resume at byte %d failed: %w", o.where(), o.failures, o.off, o.lastErr)
		}
		o.failures++
		if d := resumeBackoff(o.failures); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-o.ctx.Done():
				t.Stop()
				return fmt.Errorf("objstore: read %s at byte %d: %w", o.where(), o.off, context.Cause(o.ctx))
			case <-t.C:
			}
		}
		out, err := o.client.GetObject(o.ctx, &s3.GetObjectInput{
			Bucket:  aws.String(o.bucket),
			Key:     aws.String(o.key),
			Range:   aws.String(fmt.Sprintf("bytes=%d-", o.off)),
			IfMatch: aws.String(o.etag),
		}, func(o *s3.Options) {
			// The object's checksum covers all of it, not the rest: some
			// servers send it with a range all the same.
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		})
		if err != nil {
			err = classify(fmt.Sprintf("resume at byte %d of", o.off), o.bucket, o.key, err)
			if o.ctx.Err() != nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrAccessDenied) || errors.Is(err, ErrChanged) {
				return err
			}
			o.lastErr = err
			continue
		}
		if cr := aws.ToString(out.ContentRange); !strings.HasPrefix(cr, fmt.Sprintf("bytes %d-", o.off)) {
			out.Body.Close()
			return fmt.Errorf("objstore: resume at byte %d of %s: the store answered the range %q", o.off, o.where(), cr)
		}
		o.body = out.Body
		o.resumes++
		return nil
	}
}

// Close ends the read, releasing its connection.
func (o *Object) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	o.timer.Stop()
	if o.body != nil {
		err := o.body.Close()
		o.body = nil
		return err
	}
	return nil
}
