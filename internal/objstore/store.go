package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// The classes of a store's errors (test them with errors.Is). Any other
// error of this package is transient: a network failure, a 5xx, a throttle
// that the client's own retries did not outlast.
var (
	// ErrNotFound: the bucket or the object does not exist (NoSuchKey,
	// NoSuchBucket, 404).
	ErrNotFound = errors.New("not found")
	// ErrAccessDenied: the store refuses the credentials or the request
	// (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, 403).
	ErrAccessDenied = errors.New("access denied")
	// ErrChanged: the object was replaced while being read, so that the
	// rest of it cannot be resumed (412 to the If-Match of a resumption).
	ErrChanged = errors.New("object changed while being read")
)

// Upload parameters of [Store.Put]: the parts of a multipart upload are
// buffered, so that an upload holds at most about
// (putConcurrency+1)*putPartSize + putThreshold bytes, whatever its size.
const (
	putPartSize    = 8 << 20
	putConcurrency = 3
	putThreshold   = 16 << 20
)

// Store is a client of one S3-compatible store. It is safe for concurrent
// use.
type Store struct {
	cfg      Config
	client   *s3.Client
	transfer *transfermanager.Client
}

// New returns a store client for cfg (no request is made: see [Store.Ping]).
// With an Endpoint, objects are addressed path-style (http://host/bucket/key).
// Each request is attempted up to [MaxAttempts] times.
func New(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithRetryMaxAttempts(MaxAttempts),
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConnsPerHost = 2 * putConcurrency
		})),
	}
	if cfg.AccessKeyID != "" || cfg.SecretAccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("objstore: AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		// A multipart object's checksum cannot be checked on a read (the
		// SDK says so in the log on every read otherwise).
		o.DisableLogOutputChecksumValidationSkipped = true
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
	})
	return &Store{
		cfg:    cfg,
		client: client,
		transfer: transfermanager.New(client, func(o *transfermanager.Options) {
			o.PartSizeBytes = putPartSize
			o.Concurrency = putConcurrency
			o.MultipartUploadThreshold = putThreshold
		}),
	}, nil
}

// Bucket is the configured bucket (AWS_BUCKET_NAME).
func (s *Store) Bucket() string { return s.cfg.Bucket }

// Put uploads r as the object bucket/key, replacing it. size is r's length,
// or -1 when unknown; a reader that ends early or runs past size fails the
// upload. A body above 16 MiB goes as a multipart upload of 8 MiB parts, a
// few at a time, so that memory stays bounded whatever the size.
func (s *Store) Put(ctx context.Context, bucket, key string, r io.Reader, size int64) error {
	in := &transfermanager.UploadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: r}
	if size >= 0 {
		in.ContentLength = aws.Int64(size)
		in.Body = &exactReader{r: r, left: size}
	}
	if _, err := s.transfer.UploadObject(ctx, in); err != nil {
		return classify("put", bucket, key, err)
	}
	return nil
}

// exactReader fails when its reader does not hold exactly left bytes.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case e.left < 0:
		return n, fmt.Errorf("objstore: the body is longer than its declared size")
	case err == io.EOF && e.left > 0:
		return n, fmt.Errorf("objstore: the body ended %d bytes short of its declared size: %w", e.left, io.ErrUnexpectedEOF)
	}
	return n, err
}

// EnsureBucket creates bucket unless it exists (and is the caller's).
func (s *Store) EnsureBucket(ctx context.Context, bucket string) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		return nil
	}
	if err = classify("head bucket", bucket, "", err); !errors.Is(err, ErrNotFound) {
		return err
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if s.cfg.Region != DefaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.cfg.Region),
		}
	}
	_, err = s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return classify("create bucket", bucket, "", err)
	}
	return nil
}

// CheckBucket asks for bucket with the store's credentials (a signed HeadBucket, one
// attempt): nil when it is there and readable, else the classified error (ErrNotFound,
// ErrAccessDenied, or why the store did not answer). The operator CLI's doctor uses it.
func (s *Store) CheckBucket(ctx context.Context, bucket string) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)},
		func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		return classify("head bucket", bucket, "", err)
	}
	return nil
}

// Ping is the store's dependency of a worker (worker.Dependency): it fails
// while the store does not answer (no connection, a 5xx), with one attempt.
// A refusal (403) or a missing bucket (404) is an answer: the tasks fail on
// it with the reason, and no waiting helps. It asks for the configured
// bucket (HeadBucket), or lists the buckets when none is configured.
func (s *Store) Ping(ctx context.Context) error {
	once := func(o *s3.Options) { o.RetryMaxAttempts = 1 }
	var err error
	if s.cfg.Bucket != "" {
		_, err = s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)}, once)
	} else {
		_, err = s.client.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1)}, once)
	}
	if err == nil {
		return nil
	}
	err = classify("ping", s.cfg.Bucket, "", err)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrAccessDenied) {
		return nil
	}
	return err
}

// classify wraps err of op on bucket/key with its class.
func classify(op, bucket, key string, err error) error {
	where := "s3://" + bucket
	if key != "" {
		where += "/" + key
	}
	var class error
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchUpload":
			class = ErrNotFound
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden",
			"InvalidToken", "ExpiredToken", "AccountProblem", "AllAccessDisabled",
			"XAdminUserNotFound": // versitygw's (404) InvalidAccessKeyId
			class = ErrAccessDenied
		case "PreconditionFailed":
			class = ErrChanged
		}
	}
	var respErr *awshttp.ResponseError
	if class == nil && errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case http.StatusNotFound:
			class = ErrNotFound
		case http.StatusForbidden, http.StatusUnauthorized:
			class = ErrAccessDenied
		case http.StatusPreconditionFailed:
			class = ErrChanged
		}
	}
	if class == nil {
		return fmt.Errorf("objstore: %s %s: %w", op, where, err)
	}
	return fmt.Errorf("objstore: %s %s: %w: %w", op, where, class, err)
}
