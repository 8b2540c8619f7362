// Package cuid is internal to the tpi-workers fleet: it makes the ids of TestPlanIt's
// @default(cuid()) columns, which Prisma fills on the client, so every insert of ours supplies
// one. [New] makes a fresh id; [Derive] makes the same id from the same inputs, for rows that a
// retried task must address again.
package cuid

import (
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Length is the length of every id of this package, the length of Prisma's cuid().
const Length = 25

const base36 = "0123456789abcdefghijklmnopqrstuvwxyz"

// New returns a new id shaped like Prisma's @default(cuid()): 25 characters, a leading 'c', then
// lower-case base-36.
//
// Layout: 'c' + 8 characters of milliseconds since the Unix epoch (so ids sort roughly by
// creation time, like cuid v1) + 16 characters drawn uniformly from crypto/rand (about 82 bits,
// which makes a collision between two ids created in the same millisecond negligible).
func New() string {
	var b strings.Builder
	b.Grow(Length)
	b.WriteByte('c')
	ts := strconv.FormatInt(time.Now().UnixMilli(), 36)
	// 8 base-36 digits cover milliseconds until the year 2059; keep the low digits after that.
	if len(ts) < 8 {
		ts = strings.Repeat("0", 8-len(ts)) + ts
	}
	b.WriteString(ts[len(ts)-8:])
	b.WriteString(randomBase36(Length - 1 - 8))
	return b.String()
}

// randomBase36 returns n characters drawn uniformly from [0-9a-z] using crypto/rand.
func randomBase36(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		rand.Read(buf) // never returns an error (crypto/rand, Go 1.24+)
		for _, c := range buf {
			// 252 = 7*36: rejecting 252..255 keeps the distribution uniform.
			if c < 252 && len(out) < n {
				out = append(out, base36[c%36])
			}
		}
	}
	return string(out)
}

// Derive returns an id shaped like [New]'s, a function of parts only: 'c' then the first 24
// base-36 digits of the SHA-256 of the parts joined by NUL bytes. A task that inserts a row
// under Derive(queue, taskID) addresses the same row on every retry.
//
// The derivation is frozen: rows already written under such ids are found again only as long
// as it gives the same ids.
func Derive(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	s := new(big.Int).SetBytes(sum[:]).Text(36)
	if len(s) < Length-1 {
		s = strings.Repeat("0", Length-1-len(s)) + s
	}
	return "c" + s[:Length-1]
}
