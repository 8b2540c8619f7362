package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

// TestEnableLinear plays TestPlanIt's own database: the enum without LINEAR
// (as Prisma creates it). EnableLinear adds the value once, then reports it
// present; a LINEAR integration can then be stored.
func TestEnableLinear(t *testing.T) {
	db, _ := testenv.EmptyPostgres(t)
	ctx := context.Background()
	if _, err := postgres.EnableLinear(ctx, db); !errors.Is(err, postgres.ErrNoProviderEnum) {
		t.Fatalf("without the enum: %v, want ErrNoProviderEnum", err)
	}
	if _, err := db.Exec(ctx, `CREATE TYPE "IntegrationProvider" AS ENUM ('JIRA', 'GITHUB', 'AZURE_DEVOPS', 'SIMPLE_URL');
		CREATE TABLE "Integration" (id serial PRIMARY KEY, provider "IntegrationProvider" NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO "Integration"(provider) VALUES ('LINEAR')`); err == nil {
		t.Fatal("LINEAR accepted before EnableLinear")
	}
	added, err := postgres.EnableLinear(ctx, db)
	if err != nil || !added {
		t.Fatalf("first call: added %v, %v", added, err)
	}
	added, err = postgres.EnableLinear(ctx, db)
	if err != nil || added {
		t.Fatalf("second call: added %v, %v; want false, nil", added, err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO "Integration"(provider) VALUES ('LINEAR')`); err != nil {
		t.Fatalf("LINEAR after EnableLinear: %v", err)
	}
}

// TestDevSubsetHasLinear: our development subset carries LINEAR already,
// and EnableLinear leaves it alone.
func TestDevSubsetHasLinear(t *testing.T) {
	db, _ := testenv.Postgres(t)
	added, err := postgres.EnableLinear(context.Background(), db)
	if err != nil || added {
		t.Fatalf("added %v, %v; want false, nil (the subset has LINEAR)", added, err)
	}
}
