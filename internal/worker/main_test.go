package worker_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every App.Run must leave nothing running behind it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
