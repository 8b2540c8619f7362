package testmoimport

import "testing"

func TestTimeConversions(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  any
		want any
	}{
		{"manual seconds as stored", seconds(ID{N: 95, Valid: true}), int64(95)},
		{"manual null", seconds(ID{}), nil},
		{"manual clamped", seconds(ID{N: 1 << 40, Valid: true}), int64(1<<31 - 1)},
		{"automation µs to s", micros(ID{N: 2_400_000, Valid: true}), int64(2)},
		{"automation µs rounds", micros(ID{N: 2_500_000, Valid: true}), int64(3)},
		{"automation null", micros(ID{}), nil},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v (%T), want %v (%T)", tc.name, tc.got, tc.got, tc.want, tc.want)
		}
	}
}

func TestJUnitType(t *testing.T) {
	for _, tc := range []struct {
		st   statusInfo
		raw  string
		want string
	}{
		{statusInfo{name: "passed", system: "passed"}, "", "PASSED"},
		{statusInfo{name: "failed", system: "failed", failure: true}, "", "FAILURE"},
		{statusInfo{name: "custom", system: "custom_1", failure: true}, "", "FAILURE"},
		{statusInfo{name: "blocked", system: "blocked"}, "", "SKIPPED"},
		{statusInfo{name: "skipped", system: "skipped"}, "", "SKIPPED"},
		{statusInfo{name: "untested", system: "untested"}, "Error", "ERROR"},
		{statusInfo{}, "", "PASSED"},
	} {
		if got := junitType(tc.st, tc.raw); got != tc.want {
			t.Errorf("junitType(%+v, %q) = %s, want %s", tc.st, tc.raw, got, tc.want)
		}
	}
}
