// Package s3test gives tests a shared state of their own on the local S3
// server (versitygw from `make services`): a fresh prefix, removed when the
// test ends, and the environment file lines that point at it.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
)

// State returns a state section for a fresh prefix of the local S3
// server; every object under it is removed when the test ends. Under
// CI=true a missing server fails the test, elsewhere it skips.
func State(t testing.TB) envfile.StateConfig {
	t.Helper()
	var r [6]byte
	_, _ = rand.Read(r[:])
	c := envfile.StateConfig{
		Backend: envfile.StateS3,
		URL:     "s3://" + termshift.RequireLocalSetting(t, "TERMSHIFT_S3_BUCKET") + "/termshift-state-test/" + hex.EncodeToString(r[:]),
		S3: envfile.S3Config{
			Endpoint:  termshift.RequireLocalSetting(t, "TERMSHIFT_S3_ENDPOINT"),
			Region:    termshift.RequireLocalSetting(t, "TERMSHIFT_S3_REGION"),
			PathStyle: true,
			AccessKey: termshift.RequireLocalSetting(t, "TERMSHIFT_S3_ACCESS_KEY"),
			SecretKey: termshift.RequireLocalSetting(t, "TERMSHIFT_S3_SECRET_KEY"),
		},
		Lease: envfile.Duration{Duration: envfile.DefaultLease},
	}
	t.Cleanup(func() {
		if err := Remove(context.Background(), c); err != nil {
			t.Errorf("remove test state %s: %v", c.URL, err)
		}
	})
	return c
}

// YAML is the environment file's state section for c, on one line.
func YAML(c envfile.StateConfig) string {
	return fmt.Sprintf("state: {backend: s3, url: %q, lease: %s, s3: {endpoint: %q, region: %q, path_style: %v, access_key: %q, secret_key: %q}}\n",
		c.URL, c.Lease.Duration, c.S3.Endpoint, c.S3.Region, c.S3.PathStyle, c.S3.AccessKey, c.S3.SecretKey)
}

// Remove deletes every object under c's prefix.
func Remove(ctx context.Context, c envfile.StateConfig) error {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(c.S3.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.S3.AccessKey, c.S3.SecretKey, "")))
	if err != nil {
		return err
	}
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		o.BaseEndpoint = aws.String(c.S3.Endpoint)
		o.UsePathStyle = c.S3.PathStyle
	})
	pages := awss3.NewListObjectsV2Paginator(client, &awss3.ListObjectsV2Input{Bucket: aws.String(c.Bucket()), Prefix: aws.String(c.Prefix() + "/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if _, err := client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(c.Bucket()), Key: o.Key}); err != nil {
				return err
			}
		}
	}
	return nil
}
