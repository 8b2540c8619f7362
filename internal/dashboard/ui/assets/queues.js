// The Job Queues page (internal/dashboard/ui/queues.html): refreshes the
// table from GET /api/v1/queues every 10 s and sends an admin's pause,
// resume and clean as POST /api/v1/queues/{queue}/{action}. Served from the
// binary, so a Content-Security-Policy of script-src 'self' allows it.
"use strict";

(function () {
  const root = document.getElementById("queues");
  if (!root) {
    return;
  }
  const api = root.dataset.api;
  const every = Number(root.dataset.refresh) || 10000;
  const errorBox = document.getElementById("error");
  const refreshed = document.getElementById("refreshed");
  const labels = { paused: "Paused", active: "Active", idle: "Idle" };
  // The header the server demands on actions: a cross-site form cannot
  // send it.
  const headers = { "X-Requested-With": "tpi-dashboard", Accept: "application/json" };
  let timer = 0;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  // showTime shows when the counts were read, in the browser's time zone.
  function showTime(at) {
    const time = refreshed.querySelector("time");
    time.dateTime = at;
    time.textContent = new Date(at).toLocaleTimeString();
  }

  function setText(row, field, value) {
    const el = row.querySelector('[data-field="' + field + '"]');
    if (el) {
      el.textContent = String(value);
    }
    return el;
  }

  function updateRow(q) {
    const row = root.querySelector('tr[data-queue="' + CSS.escape(q.name) + '"]');
    if (!row) {
      return;
    }
    const badge = setText(row, "status", labels[q.status] || q.status);
    badge.className = "badge " + q.status;
    setText(row, "configured", q.concurrency.configured);
    const live = setText(row, "live", q.concurrency.live > 0 ? q.concurrency.live : "—");
    live.title = q.concurrency.servers + " fetch loop(s)";
    for (const field of ["waiting", "active", "completed", "failed"]) {
      setText(row, field, q[field]);
    }
    const delayed = setText(row, "delayed", q.delayed);
    delayed.title = q.retrying + " retrying";
    delayed.href = q.link + "?status=" + (q.retrying > 0 ? "retry" : "scheduled");
    const toggle = row.querySelector('button[data-action="pause"], button[data-action="resume"]');
    if (toggle) {
      toggle.dataset.action = q.paused ? "resume" : "pause";
      toggle.textContent = q.paused ? "Resume" : "Pause";
      const blocked = !q.paused && !q.registered;
      toggle.disabled = blocked;
      toggle.title = blocked ? "No task yet: asynq cannot pause it" : "";
    }
    row.dataset.completed = q.completed;
    row.dataset.failed = q.failed;
  }

  async function call(url, options) {
    const resp = await fetch(url, Object.assign({ credentials: "same-origin", cache: "no-store" }, options));
    let body = {};
    try {
      body = await resp.json();
    } catch (e) {
      // An answer that is not JSON (a proxy's error page): use the status.
    }
    if (!resp.ok) {
      throw new Error(body.error || resp.status + " " + resp.statusText);
    }
    return body;
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const data = await call(api, { headers: headers });
      data.queues.forEach(updateRow);
      showTime(data.refreshedAt);
      showError("");
    } catch (e) {
      showError("Refresh failed: " + e.message);
    } finally {
      timer = setTimeout(refresh, every);
    }
  }

  async function act(button) {
    const queue = button.dataset.queue;
    const action = button.dataset.action;
    const options = { method: "POST", headers: Object.assign({}, headers) };
    if (action === "clean") {
      const row = button.closest("tr");
      const question = "Clean " + queue + "?\n\nThis deletes its " + row.dataset.completed +
        " completed and " + row.dataset.failed + " failed tasks for good. Waiting, active and delayed tasks stay.";
      if (!window.confirm(question)) {
        return;
      }
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify({ confirm: queue });
    }
    button.disabled = true;
    try {
      const result = await call(api + "/" + encodeURIComponent(queue) + "/" + action, options);
      updateRow(result.queue);
      if (action === "clean") {
        button.disabled = false;
      }
      showError("");
    } catch (e) {
      showError(action + " " + queue + " failed: " + e.message);
      button.disabled = false;
    }
    refresh();
  }

  root.addEventListener("click", function (ev) {
    const button = ev.target.closest("button[data-action]");
    if (button && !button.disabled) {
      act(button);
    }
  });
  showTime(refreshed.querySelector("time").dateTime);
  timer = setTimeout(refresh, every);
})();
