package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	units "github.com/docker/go-units"

	"github.com/testplanit/tpi-workers/internal/testmo/testmogen"
)

// cmdGenTestmo writes a synthetic Testmo export (internal/testmo/testmogen) of about --size
// bytes to --out or stdout, for trying and benchmarking the import; the report (datasets,
// rows, bytes) goes to stdout with --out, else to stderr.
func cmdGenTestmo(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("gen-testmo", flag.ContinueOnError)
	sizeFlag := fs.String("size", "200MB", "approximate export size: bytes or 200MB, 1GB (binary units: 1GB = 1024^3 bytes)")
	seed := fs.Uint64("seed", 1, "the same size and seed give the same bytes")
	out := fs.String("out", "", "write the export to this file (default: stdout)")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 0 {
		return errUsage
	}
	size, err := units.RAMInBytes(*sizeFlag)
	if err != nil || size <= 0 {
		return fmt.Errorf("gen-testmo: --size %q is not a size (bytes, or like 200MB, 1GB)", *sizeFlag)
	}

	w, report := c.out, io.Writer(os.Stderr)
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return fmt.Errorf("gen-testmo: %w", err)
		}
		w, report = f, c.out
	}
	rep, err := testmogen.Generate(ctx, w, testmogen.Config{TargetBytes: size, Seed: *seed})
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			err = errors.Join(err, os.Remove(*out))
		}
	}
	if err != nil {
		return fmt.Errorf("gen-testmo: %w", err)
	}

	dest := *out
	if dest == "" {
		dest = "stdout"
	}
	var snapshot int64
	tw := tabwriter.NewWriter(report, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "dataset\trows\tsnapshot")
	for _, d := range rep.Datasets {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", d.Name, d.Rows, d.Snapshot)
		snapshot += d.Snapshot
	}
	tw.Flush()
	fmt.Fprintf(report, "wrote %s: %d bytes (%s), %d datasets, %d rows (%d in the snapshot repository)\n",
		dest, rep.Bytes, units.BytesSize(float64(rep.Bytes)), len(rep.Datasets), rep.Rows(), snapshot)
	return nil
}
