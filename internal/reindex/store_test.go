package reindex

import (
	"errors"
	"testing"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

func TestReplicas(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	n, err := Replicas(ctx, pool)
	if err != nil || n != DefaultReplicas {
		t.Errorf("no AppConfig row: %d, %v; want %d", n, err, DefaultReplicas)
	}
	for _, tc := range []struct {
		value string
		want  int
		bad   bool
	}{
		{value: `2`, want: 2},
		{value: `0`, want: 0},
		{value: `10`, want: 10},
		{value: `"3"`, want: 3},
		{value: `null`, want: 0},
		{value: `false`, want: 0},
		{value: `""`, want: 0},
		{value: `11`, bad: true},
		{value: `-1`, bad: true},
		{value: `1.5`, bad: true},
		{value: `"two"`, bad: true},
		{value: `true`, bad: true},
		{value: `{"replicas": 1}`, bad: true},
	} {
		if _, err := pool.Exec(ctx, `INSERT INTO "AppConfig" (key, value) VALUES ('elasticsearch_replicas', $1)
			ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, tc.value); err != nil {
			t.Fatal(err)
		}
		n, err := Replicas(ctx, pool)
		switch {
		case tc.bad && !errors.Is(err, ErrInvalidReplicas):
			t.Errorf("value %s: %d, %v; want ErrInvalidReplicas", tc.value, n, err)
		case !tc.bad && (err != nil || n != tc.want):
			t.Errorf("value %s: %d, %v; want %d", tc.value, n, err, tc.want)
		}
	}
}
