package postgres

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CUIDLength is the length of the ids returned by [NewCUID], the length of Prisma's cuid().
const CUIDLength = 25

const base36 = "0123456789abcdefghijklmnopqrstuvwxyz"

// NewCUID returns a new id shaped like Prisma's @default(cuid()): 25 characters, a leading 'c',
// then lower-case base-36. Prisma fills these ids on the client, so TestPlanIt's tables have no
// database default for them and every insert of ours must supply one.
//
// Layout: 'c' + 8 characters of milliseconds since the Unix epoch (so ids sort roughly by
// creation time, like cuid v1) + 16 characters drawn uniformly from crypto/rand (about 82 bits,
// which makes a collision between two ids created in the same millisecond negligible).
func NewCUID() string {
	var b strings.Builder
	b.Grow(CUIDLength)
	b.WriteByte('c')
	ts := strconv.FormatInt(time.Now().UnixMilli(), 36)
	// 8 base-36 digits cover milliseconds until the year 2059; keep the low digits after that.
	if len(ts) < 8 {
		ts = strings.Repeat("0", 8-len(ts)) + ts
	}
	b.WriteString(ts[len(ts)-8:])
	b.WriteString(randomBase36(CUIDLength - 1 - 8))
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

// NewUUID returns a random (version 4) UUID in its canonical text form, like Prisma's
// @default(uuid()) ("UserPreferences".id), which is also filled on the client.
func NewUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
