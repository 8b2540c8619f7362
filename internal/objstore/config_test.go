package objstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/objstore"
)

func loadConfig(vars map[string]string) (objstore.Config, error) {
	env := config.NewEnv(func(k string) string { return vars[k] })
	c := objstore.LoadConfig(env)
	return c, env.Err()
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		want objstore.Config
	}{
		{"defaults", map[string]string{"AWS_BUCKET_NAME": "b"},
			objstore.Config{Bucket: "b", Region: "us-east-1"}},
		{"everything", map[string]string{
			"AWS_BUCKET_NAME": "b", "AWS_REGION": "eu-west-3", "AWS_BUCKET_REGION": "us-west-2",
			"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK",
			"AWS_ENDPOINT_URL": "http://minio:9000", "AWS_PUBLIC_ENDPOINT_URL": "https://s3.example.com",
		}, objstore.Config{Bucket: "b", Region: "eu-west-3", AccessKeyID: "AK", SecretAccessKey: "SK", Endpoint: "http://minio:9000"}},
		{"bucket region and public endpoint", map[string]string{
			"AWS_BUCKET_NAME": "b", "AWS_BUCKET_REGION": "us-west-2", "AWS_PUBLIC_ENDPOINT_URL": "https://s3.example.com",
		}, objstore.Config{Bucket: "b", Region: "us-west-2", Endpoint: "https://s3.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(tt.vars)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// A misconfiguration is one line that names the variable to fix.
func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vars    map[string]string
		wantVar string
	}{
		{"no bucket", map[string]string{}, "AWS_BUCKET_NAME"},
		{"key without secret", map[string]string{"AWS_BUCKET_NAME": "b", "AWS_ACCESS_KEY_ID": "AK"}, "AWS_SECRET_ACCESS_KEY"},
		{"secret without key", map[string]string{"AWS_BUCKET_NAME": "b", "AWS_SECRET_ACCESS_KEY": "SK"}, "AWS_ACCESS_KEY_ID"},
		{"endpoint without scheme", map[string]string{"AWS_BUCKET_NAME": "b", "AWS_ENDPOINT_URL": "minio:9000"}, "AWS_ENDPOINT_URL"},
		{"endpoint ftp", map[string]string{"AWS_BUCKET_NAME": "b", "AWS_ENDPOINT_URL": "ftp://minio"}, "AWS_ENDPOINT_URL"},
		{"endpoint relative", map[string]string{"AWS_BUCKET_NAME": "b", "AWS_ENDPOINT_URL": "/s3"}, "AWS_ENDPOINT_URL"},
		{"public endpoint", map[string]string{"AWS_BUCKET_NAME": "b", "AWS_PUBLIC_ENDPOINT_URL": "s3.example.com"}, "AWS_PUBLIC_ENDPOINT_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(tt.vars)
			var ce *config.ConfigError
			if !errors.As(err, &ce) || ce.Var != tt.wantVar {
				t.Fatalf("error %v, want one naming %s", err, tt.wantVar)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tt.wantVar) {
				t.Errorf("message %q: want one line naming %s", msg, tt.wantVar)
			}
		})
	}
}
