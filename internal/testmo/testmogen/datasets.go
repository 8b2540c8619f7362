package testmogen

import "strconv"

// Custom field system names, on repository_cases and run_results rows as custom_<name>.
const (
	fieldTypeString   = 1
	fieldTypeText     = 2
	fieldTypeInteger  = 3
	fieldTypeDropdown = 8
	fieldTypeMulti    = 9
	fieldTypeCheckbox = 7
	fieldTypeSteps    = 10
)

type field struct {
	name string
	typ  int
	opts int // options in field_values, for dropdown and multi-select
}

var fields = []field{
	{"priority", fieldTypeDropdown, 4},
	{"area", fieldTypeMulti, 6},
	{"preconditions", fieldTypeText, 0},
	{"component", fieldTypeString, 0},
	{"automated", fieldTypeCheckbox, 0},
	{"story_points", fieldTypeInteger, 0},
	{"steps", fieldTypeSteps, 0},
	{"build", fieldTypeString, 0},
	{"environment", fieldTypeDropdown, 3},
	{"browser", fieldTypeDropdown, 5},
	{"defect_notes", fieldTypeText, 0},
	{"platforms", fieldTypeMulti, 4},
}

// write writes every dataset, parents before children.
func (g *gen) write(scale int) {
	P := 2 + scale/40 // projects
	cpp := max(1, 20*scale/P)
	C := P * cpp // master repository cases
	kf := max(1, cpp/10)
	F := P * kf // master folders, folder f belongs to project (f-1)%P+1
	Cs := max(2, C/20)
	Fs := max(1, Cs/15)
	U := 10 + C/100
	M := 3 * P
	I := max(5, C/10)
	S := max(2, C/40)
	R := max(P, C/25)
	AC := max(P, C/4)
	AR := max(1, C/200)
	const roles, groups, states, statuses, mtypes, tags, configs, targets, templates = 4, 5, 6, 8, 4, 40, 8, 3, 3
	snapRepo := P + 1
	caseProject := func(c int) int { return (c-1)%P + 1 }
	caseFolder := func(c int) int { p := caseProject(c); return p + P*(((c-1)/P)%kf) }
	caseOf := func(p int) int { return p + P*g.rng.IntN(cpp) } // random master case of project p
	user := func() int { return g.pick(U) }

	g.dataset("states", "id:integer", "name:string", "is_default:boolean", "display_order:integer")
	for i := 1; i <= states; i++ {
		g.row().int("id", i).str("name", []string{"Draft", "Review", "Approved", "Active", "Deprecated", "Retired"}[i-1]).bit("is_default", i == 1).int("display_order", i).done(false)
	}
	g.end()
	g.dataset("statuses", "id:integer", "name:string", "system_name:string", "color:string", "is_passed:boolean", "is_failed:boolean", "is_final:boolean", "is_untested:boolean")
	for i := 1; i <= statuses; i++ {
		n := []string{"Untested", "Passed", "Failed", "Retest", "Blocked", "Skipped", "Custom 1", "Custom 2"}[i-1]
		g.row().int("id", i).str("name", n).str("system_name", lower(n)).str("color", "#"+hex6(g.rng.IntN(1<<24))).
			bit("is_passed", i == 2).bit("is_failed", i == 3).bit("is_final", i <= 3).bit("is_untested", i == 1).done(false)
	}
	g.end()
	g.dataset("roles", "id:integer", "name:string", "permissions:string")
	for i := 1; i <= roles; i++ {
		g.row().int("id", i).str("name", []string{"Admin", "Lead", "Tester", "Viewer"}[i-1]).str("permissions", "run.add,run.edit,case.add").done(false)
	}
	g.end()
	g.dataset("groups", "id:integer", "name:string", "note:string")
	for i := 1; i <= groups; i++ {
		g.row().int("id", i).str("name", "Group "+strconv.Itoa(i)).str("note", g.sentence(4)).done(false)
	}
	g.end()
	g.dataset("users", "id:integer", "email:string", "name:string", "is_active:boolean", "is_api:boolean", "role_id:integer", "created_at:datetime")
	for i := 1; i <= U; i++ {
		g.row().int("id", i).str("email", "user"+strconv.Itoa(i)+"@example.com").str("name", "User "+strconv.Itoa(i)).
			bit("is_active", g.chance(0.9)).bit("is_api", i%50 == 0).int("role_id", g.pick(roles)).time("created_at", g).done(false)
	}
	g.end()
	g.dataset("user_groups", "user_id:integer", "group_id:integer")
	for i := 1; i <= U; i++ {
		g.row().int("user_id", i).int("group_id", g.pick(groups)).done(false)
	}
	g.end()
	g.dataset("milestone_types", "id:integer", "name:string", "icon_id:integer")
	for i := 1; i <= mtypes; i++ {
		g.row().int("id", i).str("name", []string{"Release", "Sprint", "Iteration", "Phase"}[i-1]).int("icon_id", i).done(false)
	}
	g.end()
	g.dataset("tags", "id:integer", "name:string")
	for i := 1; i <= tags; i++ {
		g.row().int("id", i).str("name", g.word()+"-"+strconv.Itoa(i)).done(false)
	}
	g.end()
	g.dataset("configs", "id:integer", "name:string")
	for i := 1; i <= configs; i++ {
		g.row().int("id", i).str("name", []string{"Chrome", "Firefox", "Safari", "Edge"}[i%4]+" / "+[]string{"Windows", "macOS"}[i%2]).done(false)
	}
	g.end()
	g.dataset("issue_targets", "id:integer", "name:string", "type:integer", "url:string")
	for i := 1; i <= targets; i++ {
		g.row().int("id", i).str("name", []string{"Jira", "GitHub", "Azure DevOps"}[i-1]).int("type", i).str("url", "https://tracker"+strconv.Itoa(i)+".example.com").done(false)
	}
	g.end()
	g.dataset("fields", "id:integer", "name:string", "system_name:string", "type:integer", "is_enabled:boolean")
	for i, f := range fields {
		g.row().int("id", i+1).str("name", f.name).str("system_name", f.name).int("type", f.typ).bit("is_enabled", true).done(false)
	}
	g.end()
	optionBase := make([]int, len(fields)) // first field_values id per field
	g.dataset("field_values", "id:integer", "field_id:integer", "name:string", "display_order:integer", "is_default:boolean")
	fv := 0
	for i, f := range fields {
		optionBase[i] = fv + 1
		for o := 1; o <= f.opts; o++ {
			fv++
			g.row().int("id", fv).int("field_id", i+1).str("name", f.name+" "+strconv.Itoa(o)).int("display_order", o).bit("is_default", o == 1).done(false)
		}
	}
	g.end()
	g.dataset("templates", "id:integer", "name:string", "is_default:boolean")
	for i := 1; i <= templates; i++ {
		g.row().int("id", i).str("name", []string{"Steps", "Text", "Exploratory"}[i-1]).bit("is_default", i == 1).done(false)
	}
	g.end()
	g.dataset("template_fields", "template_id:integer", "field_id:integer", "display_order:integer")
	for t := 1; t <= templates; t++ {
		for i := range 6 {
			g.row().int("template_id", t).int("field_id", (t+i*2)%len(fields)+1).int("display_order", i+1).done(false)
		}
	}
	g.end()

	g.dataset("projects", "id:integer", "name:string", "note:string", "docs:string", "is_completed:boolean", "completed_at:datetime", "created_at:datetime", "created_by:integer")
	for p := 1; p <= P; p++ {
		g.row().int("id", p).str("name", "Project "+strconv.Itoa(p)).str("note", g.sentence(6)).str("docs", g.html(1)).bit("is_completed", false).null("completed_at").time("created_at", g).int("created_by", user()).done(false)
	}
	g.end()
	g.dataset("project_links", "id:integer", "project_id:integer", "name:string", "url:string", "note:string")
	for p := 1; p <= P; p++ {
		g.row().int("id", p).int("project_id", p).str("name", "Wiki").str("url", "https://wiki.example.com/p/"+strconv.Itoa(p)).str("note", g.sentence(3)).done(false)
	}
	g.end()
	g.dataset("milestones", "id:integer", "project_id:integer", "parent_id:integer", "root_id:integer", "type_id:integer", "name:string", "note:string", "docs:string", "is_started:boolean", "started_at:datetime", "is_completed:boolean", "completed_at:datetime", "created_at:datetime", "created_by:integer")
	for m := 1; m <= M; m++ {
		p, parent := (m-1)%P+1, 0
		if m > P && g.chance(0.5) {
			parent = m - P // an earlier milestone of the same project
		}
		root := parent
		if root == 0 {
			root = m
		}
		g.row().int("id", m).int("project_id", p).ref("parent_id", parent).int("root_id", root).int("type_id", g.pick(mtypes)).
			str("name", "Release "+strconv.Itoa(m)).str("note", g.sentence(5)).str("docs", g.html(1)).bit("is_started", true).time("started_at", g).
			bit("is_completed", g.chance(0.3)).null("completed_at").time("created_at", g).int("created_by", user()).done(false)
	}
	g.end()
	g.dataset("milestone_links", "id:integer", "milestone_id:integer", "name:string", "url:string", "note:string")
	for m := 1; m <= M/2; m++ {
		g.row().int("id", m).int("milestone_id", g.pick(M)).str("name", "Spec").str("url", "https://docs.example.com/m/"+strconv.Itoa(m)).str("note", "").done(false)
	}
	g.end()
	g.dataset("issues", "id:integer", "project_id:integer", "target_id:integer", "display_id:string")
	for i := 1; i <= I; i++ {
		g.row().int("id", i).int("project_id", (i-1)%P+1).int("target_id", g.pick(targets)).str("display_id", "PROJ-"+strconv.Itoa(1000+i)).done(false)
	}
	g.end()
	g.dataset("milestone_issues", "milestone_id:integer", "issue_id:integer")
	for i := 1; i <= M/2; i++ {
		g.row().int("milestone_id", g.pick(M)).int("issue_id", g.pick(I)).done(false)
	}
	g.end()

	// Repositories: one master per project, then one snapshot of project 1.
	g.dataset("repositories", "id:integer", "project_id:integer", "is_master:boolean", "is_snapshot:boolean", "name:string", "created_at:datetime")
	for p := 1; p <= P; p++ {
		g.row().int("id", p).int("project_id", p).bit("is_master", true).bit("is_snapshot", false).str("name", "Repository").time("created_at", g).done(false)
	}
	g.row().int("id", snapRepo).int("project_id", 1).bit("is_master", false).bit("is_snapshot", true).str("name", "Snapshot 1").time("created_at", g).done(true)
	g.end()
	g.dataset("repository_folders", "id:integer", "project_id:integer", "repo_id:integer", "parent_id:integer", "name:string", "docs:string", "display_order:integer", "created_at:datetime", "created_by:integer")
	for f := 1; f <= F+Fs; f++ {
		p, repo, parent := (f-1)%P+1, 0, 0
		snap := f > F
		if snap {
			p, repo = 1, snapRepo
			if f > F+1 {
				parent = F + 1
			}
		} else {
			repo = p
			if f > P && g.chance(0.6) {
				parent = f - P
			}
		}
		g.row().int("id", f).int("project_id", p).int("repo_id", repo).ref("parent_id", parent).str("name", g.word()+" "+strconv.Itoa(f)).
			str("docs", "").int("display_order", f).time("created_at", g).int("created_by", user()).done(snap)
	}
	g.end()
	g.dataset("repository_cases", "id:integer", "project_id:integer", "repo_id:integer", "folder_id:integer", "template_id:integer", "state_id:integer", "name:string", "key:string", "estimate:integer", "display_order:integer", "created_at:datetime", "created_by:integer",
		"custom_priority:integer", "custom_preconditions:string", "custom_component:string", "custom_automated:boolean", "custom_story_points:integer")
	for c := 1; c <= C+Cs; c++ {
		p, repo, folder := caseProject(c), 0, 0
		snap := c > C
		if snap {
			p, repo, folder = 1, snapRepo, F+1+g.rng.IntN(Fs)
		} else {
			repo, folder = p, caseFolder(c)
		}
		r := g.row().int("id", c).int("project_id", p).int("repo_id", repo).int("folder_id", folder).int("template_id", g.pick(templates)).int("state_id", g.pick(states)).
			str("name", "Verify "+g.sentence(4)).str("key", "C"+strconv.Itoa(c)).int("estimate", 60*g.rng.IntN(30)).int("display_order", c).time("created_at", g).int("created_by", user()).
			int("custom_priority", optionBase[0]+g.rng.IntN(fields[0].opts))
		if g.chance(0.7) {
			r.str("custom_preconditions", g.html(1+g.rng.IntN(2)))
		} else {
			r.null("custom_preconditions")
		}
		r.str("custom_component", g.word()).bit("custom_automated", g.chance(0.3)).int("custom_story_points", g.rng.IntN(13)).done(snap)
	}
	g.end()
	g.dataset("repository_case_steps", "id:integer", "case_id:integer", "project_id:integer", "repo_id:integer", "display_order:integer", "text1:string", "text2:string", "text3:string", "text4:string")
	step := 0
	for c := 1; c <= C+Cs; c++ {
		p, repo, snap := caseProject(c), caseProject(c), c > C
		if snap {
			p, repo = 1, snapRepo
		}
		for o := 1; o <= 2; o++ {
			step++
			r := g.row().int("id", step).int("case_id", c).int("project_id", p).int("repo_id", repo).int("display_order", o).
				str("text1", "<p>"+g.sentence(6)+"</p>")
			if o == 2 {
				r.str("text2", "<p>"+g.word()+"=42</p>")
			} else {
				r.null("text2")
			}
			r.str("text3", "<p>"+g.sentence(5)+"</p>").null("text4").done(snap)
		}
	}
	g.end()
	g.dataset("repository_case_values", "case_id:integer", "project_id:integer", "repo_id:integer", "field_id:integer", "value_id:integer")
	for c := 1; c <= C+Cs; c += 3 {
		p, repo, snap := caseProject(c), caseProject(c), c > C
		if snap {
			p, repo = 1, snapRepo
		}
		g.row().int("case_id", c).int("project_id", p).int("repo_id", repo).int("field_id", 2).int("value_id", optionBase[1]+g.rng.IntN(fields[1].opts)).done(snap)
	}
	g.end()
	g.dataset("repository_case_tags", "case_id:integer", "tag_id:integer")
	for c := 1; c <= C; c += 2 {
		g.row().int("case_id", c).int("tag_id", g.pick(tags)).done(false)
	}
	g.end()
	g.dataset("repository_case_issues", "case_id:integer", "repo_id:integer", "issue_id:integer")
	for c := 1; c <= C; c += 10 {
		g.row().int("case_id", c).int("repo_id", caseProject(c)).int("issue_id", g.pick(I)).done(false)
	}
	g.end()

	g.dataset("sessions", "id:integer", "project_id:integer", "template_id:integer", "state_id:integer", "config_id:integer", "milestone_id:integer", "assignee_id:integer", "name:string", "note:string", "custom_mission:string", "estimate:integer", "elapsed:integer", "is_closed:boolean", "closed_at:datetime", "created_at:datetime", "created_by:integer")
	for s := 1; s <= S; s++ {
		p := (s-1)%P + 1
		g.row().int("id", s).int("project_id", p).int("template_id", 3).int("state_id", g.pick(states)).int("config_id", g.pick(configs)).int("milestone_id", p).int("assignee_id", user()).
			str("name", "Explore "+g.sentence(3)).str("note", g.sentence(6)).str("custom_mission", g.html(1)).int("estimate", 3600).int("elapsed", g.rng.IntN(7200)).
			bit("is_closed", g.chance(0.5)).null("closed_at").time("created_at", g).int("created_by", user()).done(false)
	}
	g.end()
	g.dataset("session_results", "id:integer", "session_id:integer", "status_id:integer", "comment:string", "elapsed:integer", "created_at:datetime", "created_by:integer")
	for i := 1; i <= 3*S; i++ {
		g.row().int("id", i).int("session_id", (i-1)/3+1).int("status_id", g.pick(statuses)).str("comment", g.html(1)).int("elapsed", g.rng.IntN(900)).time("created_at", g).int("created_by", user()).done(false)
	}
	g.end()
	g.dataset("session_tags", "session_id:integer", "tag_id:integer")
	for s := 1; s <= S; s += 2 {
		g.row().int("session_id", s).int("tag_id", g.pick(tags)).done(false)
	}
	g.end()
	g.dataset("session_values", "session_id:integer", "field_id:integer", "value_id:integer")
	for s := 1; s <= S; s += 2 {
		g.row().int("session_id", s).int("field_id", 12).int("value_id", optionBase[11]+g.rng.IntN(fields[11].opts)).done(false)
	}
	g.end()
	g.dataset("session_issues", "session_id:integer", "issue_id:integer")
	for s := 1; s <= S; s += 5 {
		g.row().int("session_id", s).int("issue_id", g.pick(I)).done(false)
	}
	g.end()
	g.dataset("session_result_issues", "result_id:integer", "issue_id:integer")
	for r := 1; r <= 3*S; r += 7 {
		g.row().int("result_id", r).int("issue_id", g.pick(I)).done(false)
	}
	g.end()

	g.dataset("runs", "id:integer", "project_id:integer", "config_id:integer", "milestone_id:integer", "state_id:integer", "name:string", "note:string", "docs:string", "forecast:integer", "elapsed:integer", "is_closed:boolean", "closed_at:datetime", "created_at:datetime", "created_by:integer")
	for r := 1; r <= R; r++ {
		p := (r-1)%P + 1
		g.row().int("id", r).int("project_id", p).int("config_id", g.pick(configs)).int("milestone_id", p+P*g.rng.IntN(3)).int("state_id", g.pick(states)).
			str("name", "Run "+strconv.Itoa(r)+" "+g.word()).str("note", g.sentence(5)).str("docs", "").int("forecast", g.rng.IntN(36000)).int("elapsed", g.rng.IntN(36000)).
			bit("is_closed", g.chance(0.7)).null("closed_at").time("created_at", g).int("created_by", user()).done(false)
	}
	g.end()
	g.dataset("run_links", "id:integer", "run_id:integer", "name:string", "url:string", "note:string")
	for r := 1; r <= R; r += 3 {
		g.row().int("id", r).int("run_id", r).str("name", "CI build").str("url", "https://ci.example.com/b/"+strconv.Itoa(r)).str("note", "").done(false)
	}
	g.end()
	g.dataset("run_tags", "run_id:integer", "tag_id:integer")
	for r := 1; r <= R; r += 2 {
		g.row().int("run_id", r).int("tag_id", g.pick(tags)).done(false)
	}
	g.end()
	g.dataset("run_issues", "run_id:integer", "issue_id:integer")
	for r := 1; r <= R; r += 4 {
		g.row().int("run_id", r).int("issue_id", g.pick(I)).done(false)
	}
	g.end()
	const testsPerRun = 30
	T := R * testsPerRun
	g.dataset("run_tests", "id:integer", "run_id:integer", "case_id:integer", "status_id:integer", "assignee_id:integer", "elapsed:integer", "is_selected:boolean", "name:string")
	for t := 1; t <= T; t++ {
		run := (t-1)/testsPerRun + 1
		g.row().int("id", t).int("run_id", run).int("case_id", caseOf((run-1)%P+1)).int("status_id", g.pick(statuses)).int("assignee_id", user()).
			int("elapsed", g.rng.IntN(600)).bit("is_selected", true).str("name", "Verify "+g.sentence(3)).done(false)
	}
	g.end()
	g.dataset("run_results", "id:integer", "run_id:integer", "test_id:integer", "status_id:integer", "elapsed:integer", "comment:string", "is_deleted:boolean", "created_at:datetime", "created_by:integer",
		"custom_build:string", "custom_environment:integer", "custom_browser:integer", "custom_defect_notes:string")
	res := 0
	for t := 1; t <= T; t++ {
		for range 1 + g.rng.IntN(5) { // 3 results per test on average
			res++
			r := g.row().int("id", res).int("run_id", (t-1)/testsPerRun+1).int("test_id", t).int("status_id", g.pick(statuses)).int("elapsed", g.rng.IntN(900))
			if g.chance(0.6) {
				r.str("comment", g.html(1+g.rng.IntN(2)))
			} else {
				r.null("comment")
			}
			r.bit("is_deleted", g.chance(0.01)).time("created_at", g).int("created_by", user()).
				str("custom_build", "1."+strconv.Itoa(g.rng.IntN(40))+"."+strconv.Itoa(g.rng.IntN(300))).
				int("custom_environment", optionBase[8]+g.rng.IntN(fields[8].opts)).int("custom_browser", optionBase[9]+g.rng.IntN(fields[9].opts))
			if g.chance(0.2) {
				r.str("custom_defect_notes", g.html(1))
			} else {
				r.null("custom_defect_notes")
			}
			r.done(false)
		}
	}
	g.end()
	g.dataset("run_result_steps", "id:integer", "result_id:integer", "test_id:integer", "status_id:integer", "display_order:integer", "elapsed:integer", "comment:string", "text1:string", "text2:string", "text3:string", "text4:string")
	rs := 0
	for r := 1; r <= res; r += 3 {
		for o := 1; o <= 2; o++ {
			rs++
			g.row().int("id", rs).int("result_id", r).null("test_id").int("status_id", g.pick(statuses)).int("display_order", o).int("elapsed", g.rng.IntN(60)).
				str("comment", "").str("text1", "<p>"+g.sentence(5)+"</p>").null("text2").str("text3", "<p>"+g.sentence(4)+"</p>").null("text4").done(false)
		}
	}
	g.end()
	g.dataset("run_result_issues", "result_id:integer", "issue_id:integer")
	for r := 1; r <= res; r += 50 {
		g.row().int("result_id", r).int("issue_id", g.pick(I)).done(false)
	}
	g.end()

	g.dataset("automation_cases", "id:integer", "project_id:integer", "name:string", "folder:string", "created_at:datetime")
	for a := 1; a <= AC; a++ {
		g.row().int("id", a).int("project_id", (a-1)%P+1).str("name", "test_"+g.word()+"_"+strconv.Itoa(a)).str("folder", "tests/"+g.word()).time("created_at", g).done(false)
	}
	g.end()
	g.dataset("automation_runs", "id:integer", "project_id:integer", "config_id:integer", "milestone_id:integer", "name:string", "elapsed:integer", "is_completed:boolean", "completed_at:datetime", "total_count:integer", "created_at:datetime", "created_by:integer")
	const autoTests = 40
	for a := 1; a <= AR; a++ {
		p := (a-1)%P + 1
		g.row().int("id", a).int("project_id", p).int("config_id", g.pick(configs)).int("milestone_id", p).str("name", "CI #"+strconv.Itoa(a)).
			int("elapsed", g.rng.IntN(600_000_000)).bit("is_completed", true).time("completed_at", g).int("total_count", autoTests).time("created_at", g).int("created_by", user()).done(false)
	}
	g.end()
	g.dataset("automation_run_tests", "id:integer", "run_id:integer", "case_id:integer", "project_id:integer", "name:string", "status:integer", "status_id:integer", "elapsed:integer")
	for t := 1; t <= AR*autoTests; t++ {
		run := (t-1)/autoTests + 1
		p := (run-1)%P + 1
		g.row().int("id", t).int("run_id", run).int("case_id", p+P*g.rng.IntN(AC/P)).int("project_id", p).str("name", "test_"+g.word()).
			int("status", g.pick(3)).int("status_id", g.pick(statuses)).int("elapsed", g.rng.IntN(5_000_000)).done(false)
	}
	g.end()
	g.dataset("automation_run_fields", "id:integer", "run_id:integer", "project_id:integer", "name:string", "type:integer", "value:string")
	for i := 1; i <= 3*AR; i++ {
		run := (i-1)/3 + 1
		g.row().int("id", i).int("run_id", run).int("project_id", (run-1)%P+1).str("name", []string{"branch", "commit", "host"}[(i-1)%3]).int("type", 1).str("value", g.word()).done(false)
	}
	g.end()
	g.dataset("automation_run_test_fields", "id:integer", "test_id:integer", "run_id:integer", "project_id:integer", "name:string", "type:integer", "value:string")
	for t, i := 1, 0; t <= AR*autoTests; t += 4 {
		i++
		run := (t-1)/autoTests + 1
		g.row().int("id", i).int("test_id", t).int("run_id", run).int("project_id", (run-1)%P+1).str("name", "stdout").int("type", 2).str("value", g.sentence(12)+"\n"+g.sentence(8)).done(false)
	}
	g.end()
	g.dataset("automation_run_links", "id:integer", "run_id:integer", "project_id:integer", "name:string", "url:string", "note:string")
	for a := 1; a <= AR; a += 2 {
		g.row().int("id", a).int("run_id", a).int("project_id", (a-1)%P+1).str("name", "Build log").str("url", "https://ci.example.com/l/"+strconv.Itoa(a)).str("note", "").done(false)
	}
	g.end()
	g.dataset("automation_run_tags", "run_id:integer", "tag_id:integer")
	for a := 1; a <= AR; a++ {
		g.row().int("run_id", a).int("tag_id", g.pick(tags)).done(false)
	}
	g.end()

	g.dataset("repository_case_attachments", "id:integer", "case_id:integer", "name:string", "size:integer", "mime_type:string")
	for i, c := 1, 1; c <= C; i, c = i+1, c+10 {
		g.row().int("id", i).int("case_id", c).str("name", "screenshot-"+strconv.Itoa(i)+".png").int("size", g.rng.IntN(1<<20)).str("mime_type", "image/png").done(false)
	}
	g.end()
	g.dataset("run_result_attachments", "id:integer", "result_id:integer", "name:string", "size:integer", "mime_type:string")
	for i, r := 1, 1; r <= res; i, r = i+1, r+20 {
		g.row().int("id", i).int("result_id", r).str("name", "log-"+strconv.Itoa(i)+".txt").int("size", g.rng.IntN(1<<16)).str("mime_type", "text/plain").done(false)
	}
	g.end()
}

func hex6(v int) string {
	const digits = "0123456789abcdef"
	var b [6]byte
	for i := 5; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b[:])
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + 32
		case c == ' ':
			b[i] = '_'
		}
	}
	return string(b)
}
