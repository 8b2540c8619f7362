package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/testplanit/tpi-workers/internal/dashboard"
)

// cmdHashPassword reads a password from the first line of stdin and prints
// its bcrypt hash for DASHBOARD_PASSWORD_HASH or
// DASHBOARD_VIEWER_PASSWORD_HASH.
func cmdHashPassword(_ context.Context, c *cli, args []string) error {
	if len(args) != 0 {
		return errUsage
	}
	line, err := bufio.NewReader(c.in).ReadString('\n')
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		if err != nil {
			return errors.New("hash-password: no password on stdin (echo -n 'secret' | tpictl hash-password)")
		}
		return errors.New("hash-password: empty password")
	}
	if len(pw) < 12 {
		return errors.New("hash-password: use at least 12 characters")
	}
	h, err := dashboard.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, h)
	return nil
}

// cmdNewToken prints a random token and the SHA-256 hash to configure.
func cmdNewToken(_ context.Context, c *cli, args []string) error {
	if len(args) != 0 {
		return errUsage
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	tok := "tpiw_" + base64.RawURLEncoding.EncodeToString(b)
	fmt.Fprintf(c.out, "token: %s\nhash:  %s\n", tok, dashboard.HashToken(tok))
	fmt.Fprintln(c.out, "Give the token to the caller; put the hash in DASHBOARD_TOKEN_HASH, DASHBOARD_VIEWER_TOKEN_HASH or DASHBOARD_PRODUCER_TOKEN_HASH.")
	return nil
}
