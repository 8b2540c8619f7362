package objstore

import (
	"net/url"
	"time"

	"github.com/testplanit/tpi-workers/internal/config"
)

// Defaults of [Config].
const (
	// DefaultRegion is the region when neither AWS_REGION nor
	// AWS_BUCKET_REGION is set, as in TestPlanIt.
	DefaultRegion = "us-east-1"
	// DefaultStallTimeout is how long a read of an object's body may wait
	// for a byte before the connection is taken for dead and the read
	// resumes on a new one.
	DefaultStallTimeout = 2 * time.Minute
	// MaxAttempts is the attempts of one request (TestPlanIt's client has
	// maxAttempts 5), and of one resumption of a cut read.
	MaxAttempts = 5
)

// Config is how to reach the store; [LoadConfig] reads it from TestPlanIt's
// variables.
type Config struct {
	// Bucket is AWS_BUCKET_NAME, the bucket TestPlanIt uploads to
	// (required).
	Bucket string
	// Region is AWS_REGION, else AWS_BUCKET_REGION: default
	// [DefaultRegion].
	Region string
	// AccessKeyID and SecretAccessKey are AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY. Both empty: the SDK's default chain (shared
	// files, web identity, the instance's role).
	AccessKeyID, SecretAccessKey string
	// Endpoint is AWS_ENDPOINT_URL, else AWS_PUBLIC_ENDPOINT_URL (the one
	// TestPlanIt's web app presigns with): an http(s) URL of an
	// S3-compatible server (MinIO, versitygw), addressed path-style.
	// Default none: AWS S3's endpoint for Region.
	Endpoint string
	// StallTimeout bounds the wait for the next byte of an object's body
	// (not a variable): default [DefaultStallTimeout].
	StallTimeout time.Duration
}

// LoadConfig reads the store's variables, recording errors in env (checked
// once by the caller with env.Err()).
func LoadConfig(env *config.Env) Config {
	c := Config{
		Bucket:          env.Required("AWS_BUCKET_NAME"),
		Region:          env.String("AWS_REGION", env.String("AWS_BUCKET_REGION", DefaultRegion)),
		AccessKeyID:     env.String("AWS_ACCESS_KEY_ID", ""),
		SecretAccessKey: env.String("AWS_SECRET_ACCESS_KEY", ""),
	}
	switch {
	case c.AccessKeyID != "" && c.SecretAccessKey == "":
		env.Fail("AWS_SECRET_ACCESS_KEY", "required when AWS_ACCESS_KEY_ID is set")
	case c.AccessKeyID == "" && c.SecretAccessKey != "":
		env.Fail("AWS_ACCESS_KEY_ID", "required when AWS_SECRET_ACCESS_KEY is set")
	}
	for _, name := range []string{"AWS_ENDPOINT_URL", "AWS_PUBLIC_ENDPOINT_URL"} {
		raw := env.String(name, "")
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			env.Fail(name, "%q is not an absolute http(s) URL (example: http://minio:9000)", raw)
		}
		c.Endpoint = raw
		break
	}
	return c
}

func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	return c
}
