package main

import (
	"context"
	"strings"
	"testing"
)

// TestMisconfigurationNamesTheVariable: without the bucket, or with half a key pair, the
// worker stops at once with one line naming the variable.
func TestMisconfigurationNamesTheVariable(t *testing.T) {
	base := map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/0", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x"}
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{}, "AWS_BUCKET_NAME"},
		{map[string]string{"AWS_BUCKET_NAME": "b", "AWS_ACCESS_KEY_ID": "k"}, "AWS_SECRET_ACCESS_KEY"},
		{map[string]string{"AWS_BUCKET_NAME": "b", "AWS_ENDPOINT_URL": "not a url"}, "AWS_ENDPOINT_URL"},
		{map[string]string{"AWS_BUCKET_NAME": "b", "TESTMO_IMPORT_CONCURRENCY": "zero"}, "TESTMO_IMPORT_CONCURRENCY"},
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range tc.set {
			env[k] = v
		}
		err := run(context.Background(), func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("with %v: %v, want one line naming %s", tc.set, err, tc.want)
		}
	}
}
