package postgres

import (
	"crypto/rand"
	"fmt"

	"github.com/testplanit/tpi-workers/internal/cuid"
)

// CUIDLength is the length of the ids returned by [NewCUID], the length of Prisma's cuid().
const CUIDLength = cuid.Length

// NewCUID returns a new id shaped like Prisma's @default(cuid()) ([cuid.New]). Prisma fills these
// ids on the client, so TestPlanIt's tables have no database default for them and every insert of
// ours must supply one.
func NewCUID() string { return cuid.New() }

// NewUUID returns a random (version 4) UUID in its canonical text form, like Prisma's
// @default(uuid()) ("UserPreferences".id), which is also filled on the client.
func NewUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
