// The console's own behaviour (a static file: the CSP allows no inline script).
// Live run page: an EventSource on /ui/runs/{id}/live sets each step's data-status.
(function () {
  "use strict";

  function applySteps(svg, steps) {
    Object.keys(steps).forEach(function (id) {
      var state = steps[id];
      var node = svg.querySelector('[data-step-id="' + CSS.escape(id) + '"]');
      if (!node) { return; }
      node.setAttribute("data-status", state.status);
      node.classList.toggle("waiting", Boolean(state.waiting));
      var sub = node.querySelector("text.sub");
      if (sub) { sub.textContent = state.label; }
    });
  }

  function addTimeline(list, entries) {
    entries.forEach(function (e) {
      var li = document.createElement("li");
      li.setAttribute("data-sequence", String(e.sequence));
      li.textContent = "#" + e.sequence + " " + e.time + " " + e.text;
      list.appendChild(li);
    });
  }

  function follow(page) {
    var svg = page.querySelector("svg.dag");
    var list = page.querySelector(".timeline");
    var status = page.querySelector("[data-run-status]");
    var after = page.getAttribute("data-last-sequence") || "0";
    var source = new EventSource(page.getAttribute("data-live") + "?after=" + after);
    source.addEventListener("state", function (msg) {
      var data = JSON.parse(msg.data);
      if (svg) { applySteps(svg, data.steps); }
      if (list) { addTimeline(list, data.timeline); }
      if (status) {
        status.setAttribute("data-run-status", data.status);
        status.setAttribute("data-status", data.status);
        status.className = "pill status-" + data.status;
        status.textContent = data.status;
      }
      page.setAttribute("data-last-sequence", String(data.sequence));
      if (data.actions_changed && window.htmx) {
        window.htmx.trigger(page, "run-changed");
      }
    });
    source.addEventListener("end", function () { source.close(); });
  }

  function selectSteps(page) {
    var svg = page.querySelector("svg.dag");
    if (!svg) { return; }
    svg.addEventListener("click", function (ev) {
      var node = ev.target.closest("[data-step-id]");
      if (!node || !window.htmx) { return; }
      svg.querySelectorAll(".selected").forEach(function (n) { n.classList.remove("selected"); });
      node.classList.add("selected");
      window.htmx.ajax("GET", node.getAttribute("data-detail"), { target: "#step-detail" });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var page = document.querySelector("[data-live]");
    if (page) {
      follow(page);
      selectSteps(page);
    }
  });
})();
