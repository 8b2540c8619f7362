package reindex

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A generator of large case data sets, written with COPY, for the
// queries-per-batch test and the benchmarks. It needs a migrated database
// and writes everything it refers to.

// genBase holds the shared rows that generated projects refer to.
type genBase struct {
	user                string
	state, template     int32
	tags                []int32
	fields              []genField
	textLong, dropdown  int32 // field ids by role
	multi, integer, chk int32
	date, textString    int32
}

type genField struct {
	id      int32
	typ     string
	options []int32
}

// genWords is the vocabulary of generated step texts.
var genWords = strings.Fields(`open the cart page and click checkout then enter a valid card number expiry date
	security code billing address shipping method coupon discount total amount tax receipt email confirmation
	order history refund cancel retry payment provider timeout error message banner button field list item`)

// writeGenBase writes the users, catalogs, tags and custom fields.
func writeGenBase(ctx context.Context, db *pgxpool.Pool) (genBase, error) {
	var b genBase
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var color, icon int32
		steps := []struct {
			sql  string
			args []any
			dst  any
		}{
			{`INSERT INTO "Roles" (id, name, "isDefault") VALUES (1, 'user', true) ON CONFLICT DO NOTHING RETURNING id`, nil, nil},
			{`INSERT INTO "User" (id, name, email, password, "updatedAt") VALUES ('gen_user', 'Gen User', 'gen@example.com', '!', now()) RETURNING id`, nil, &b.user},
			{`WITH f AS (INSERT INTO "ColorFamily" (name, "order") VALUES ('Gen', 99) RETURNING id)
			  INSERT INTO "Color" ("colorFamilyId", value, "order") SELECT id, '#123456', 1 FROM f RETURNING id`, nil, &color},
			{`INSERT INTO "FieldIcon" (name) VALUES ('gen-icon') RETURNING id`, nil, &icon},
		}
		for _, s := range steps {
			row := tx.QueryRow(ctx, s.sql, s.args...)
			var err error
			if s.dst != nil {
				err = row.Scan(s.dst)
			} else {
				var ignored int32
				err = row.Scan(&ignored)
				if err == pgx.ErrNoRows {
					err = nil
				}
			}
			if err != nil {
				return fmt.Errorf("%.60s: %w", s.sql, err)
			}
		}
		if err := tx.QueryRow(ctx, `INSERT INTO "Workflows" (name, "iconId", "colorId", scope) VALUES ('Gen active', $1, $2, 'CASES') RETURNING id`,
			icon, color).Scan(&b.state); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO "Templates" ("templateName", "isEnabled", "isDefault") VALUES ('Gen template', true, false) RETURNING id`).Scan(&b.template); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `INSERT INTO "Tags" (name) SELECT 'gen-tag-' || g FROM generate_series(1, 50) g RETURNING id`)
		if err != nil {
			return err
		}
		if b.tags, err = pgx.CollectRows(rows, pgx.RowTo[int32]); err != nil {
			return err
		}
		for _, f := range []struct {
			typ     string
			options int
			dst     *int32
		}{
			{"Text Long", 0, &b.textLong}, {"Dropdown", 4, &b.dropdown}, {"Multi-Select", 5, &b.multi},
			{"Integer", 0, &b.integer}, {"Checkbox", 0, &b.chk}, {"Date", 0, &b.date}, {"Text String", 0, &b.textString},
		} {
			var typeID int32
			if err := tx.QueryRow(ctx, `INSERT INTO "CaseFieldTypes" (type) VALUES ($1)
				ON CONFLICT (type) DO UPDATE SET type = EXCLUDED.type RETURNING id`, f.typ).Scan(&typeID); err != nil {
				return err
			}
			gf := genField{typ: f.typ}
			if err := tx.QueryRow(ctx, `INSERT INTO "CaseFields" ("displayName", "systemName", "typeId") VALUES ($1, $2, $3) RETURNING id`,
				"Gen "+f.typ, "gen_"+strings.ReplaceAll(strings.ToLower(f.typ), " ", "_"), typeID).Scan(&gf.id); err != nil {
				return err
			}
			for i := range f.options {
				var o int32
				if err := tx.QueryRow(ctx, `WITH o AS (INSERT INTO "FieldOptions" (name, "iconId", "iconColorId", "order") VALUES ($1, $2, $3, $4) RETURNING id)
					INSERT INTO "CaseFieldAssignment" ("fieldOptionId", "caseFieldId") SELECT id, $5 FROM o RETURNING "fieldOptionId"`,
					fmt.Sprintf("%s option %d", f.typ, i+1), icon, color, i, gf.id).Scan(&o); err != nil {
					return err
				}
				gf.options = append(gf.options, o)
			}
			*f.dst = gf.id
			b.fields = append(b.fields, gf)
		}
		return nil
	})
	if err != nil {
		return genBase{}, fmt.Errorf("generating the base rows: %w", err)
	}
	return b, nil
}

// genProject writes a project named name with n cases in a three-level
// folder tree; per case 1 to 5 steps (a tenth of the cases also use a shared
// step group of 3 items), 0 to 4 tags and about 5 custom field values of 7
// types. It returns the project id. The data depend only on seed and n.
func genProject(ctx context.Context, db *pgxpool.Pool, b genBase, name string, n int, seed uint64) (int32, error) {
	rng := rand.New(rand.NewPCG(seed, 0x7265696e646578))
	sentence := func(min, max int) string {
		k := min + rng.IntN(max-min+1)
		w := make([]string, k)
		for i := range w {
			w[i] = genWords[rng.IntN(len(genWords))]
		}
		return strings.Join(w, " ")
	}
	doc := func(s string) string {
		return `{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"` + s + `"}]}]}`
	}
	var project int32
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// Rows consistent by construction: skip the foreign-key triggers
		// when allowed (superuser), as forecastgen does.
		if _, err := tx.Exec(ctx, "SAVEPOINT fk"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT fk"); err != nil {
				return err
			}
		}
		var repo int32
		if err := tx.QueryRow(ctx, `INSERT INTO "Projects" (name, "createdBy", "iconUrl") VALUES ($1, $2, '/icons/gen.svg') RETURNING id`,
			name, b.user).Scan(&project); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO "Repositories" ("projectId") VALUES ($1) RETURNING id`, project).Scan(&repo); err != nil {
			return err
		}
		// Folders: 5 roots, 5 children each, 4 grandchildren each.
		var leaves []int32
		insertFolder := func(parent *int32, label string) (int32, error) {
			var id int32
			err := tx.QueryRow(ctx, `INSERT INTO "RepositoryFolders" ("projectId", "repositoryId", "parentId", name, "creatorId")
				VALUES ($1, $2, $3, $4, $5) RETURNING id`, project, repo, parent, label, b.user).Scan(&id)
			return id, err
		}
		for i := range 5 {
			root, err := insertFolder(nil, fmt.Sprintf("Area %d", i+1))
			if err != nil {
				return err
			}
			for j := range 5 {
				mid, err := insertFolder(&root, fmt.Sprintf("Feature %d.%d", i+1, j+1))
				if err != nil {
					return err
				}
				for k := range 4 {
					leaf, err := insertFolder(&mid, fmt.Sprintf("Scenario %d.%d.%d", i+1, j+1, k+1))
					if err != nil {
						return err
					}
					leaves = append(leaves, leaf)
				}
			}
		}
		// Shared step groups: 20 with 3 items each.
		rows, err := tx.Query(ctx, `INSERT INTO "SharedStepGroup" (name, "projectId", "updatedAt", "createdById")
			SELECT 'Shared ' || g, $1, now(), $2 FROM generate_series(1, 20) g RETURNING id`, project, b.user)
		if err != nil {
			return err
		}
		groups, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		var items [][]any
		for _, g := range groups {
			for k := range 3 {
				items = append(items, []any{g, k, doc(sentence(4, 8)), doc(sentence(3, 6)), time.Now()})
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"SharedStepItem"},
			[]string{"sharedStepGroupId", "order", "step", "expectedResult", "updatedAt"}, pgx.CopyFromRows(items)); err != nil {
			return fmt.Errorf("shared items: %w", err)
		}

		created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"RepositoryCases"},
			[]string{"projectId", "repositoryId", "folderId", "templateId", "name", "className", "source", "stateId",
				"estimate", "forecastManual", "forecastAutomated", "automated", "isDeleted", "createdAt", "creatorId"},
			pgx.CopyFromSlice(n, func(i int) ([]any, error) {
				var className any
				source, automated := "MANUAL", false
				if i%4 == 0 {
					className, source, automated = fmt.Sprintf("gen.Spec%d", i), "JUNIT", true
				}
				return []any{project, repo, leaves[rng.IntN(len(leaves))], b.template,
					fmt.Sprintf("%s case %d: %s", name, i, sentence(3, 7)), className, source, b.state,
					60 + rng.IntN(600), nil, 1.5 + float64(rng.IntN(100)), automated, rng.IntN(50) == 0,
					created.Add(time.Duration(i) * time.Minute), b.user}, nil
			})); err != nil {
			return fmt.Errorf("cases: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT id FROM "RepositoryCases" WHERE "projectId" = $1 ORDER BY id`, project)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}

		var steps, tags, values [][]any
		for _, id := range ids {
			k := 1 + rng.IntN(5)
			for o := range k {
				steps = append(steps, []any{id, o, doc(sentence(6, 12)), doc(sentence(4, 9)), nil})
			}
			if rng.IntN(10) == 0 {
				steps = append(steps, []any{id, k, nil, nil, groups[rng.IntN(len(groups))]})
			}
			first := rng.IntN(len(b.tags))
			for t := range rng.IntN(5) {
				tags = append(tags, []any{id, b.tags[(first+t*7)%len(b.tags)]})
			}
			for _, f := range b.fields {
				if rng.IntN(4) == 0 {
					continue
				}
				var v string
				switch f.typ {
				case "Text Long":
					v = doc(sentence(5, 15))
				case "Dropdown":
					v = fmt.Sprint(f.options[rng.IntN(len(f.options))])
				case "Multi-Select":
					v = fmt.Sprintf("[%d, %d]", f.options[0], f.options[1+rng.IntN(len(f.options)-1)])
				case "Integer":
					v = fmt.Sprint(rng.IntN(13))
				case "Checkbox":
					v = fmt.Sprint(rng.IntN(2) == 0)
				case "Date":
					v = created.AddDate(0, 0, rng.IntN(365)).Format(`"2006-01-02"`)
				case "Text String":
					v = `"REQ-` + fmt.Sprint(rng.IntN(10000)) + `"`
				}
				values = append(values, []any{id, f.id, v})
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"Steps"},
			[]string{"testCaseId", "order", "step", "expectedResult", "sharedStepGroupId"}, pgx.CopyFromRows(steps)); err != nil {
			return fmt.Errorf("steps: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"_RepositoryCasesToTags"}, []string{"A", "B"}, pgx.CopyFromRows(tags)); err != nil {
			return fmt.Errorf("tags: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"CaseFieldValues"}, []string{"testCaseId", "fieldId", "value"},
			pgx.CopyFromRows(values)); err != nil {
			return fmt.Errorf("field values: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("generating project %s: %w", name, err)
	}
	if _, err := db.Exec(ctx, `ANALYZE "RepositoryCases", "Steps", "_RepositoryCasesToTags", "CaseFieldValues", "RepositoryFolders"`); err != nil {
		return 0, fmt.Errorf("analyze: %w", err)
	}
	return project, nil
}
