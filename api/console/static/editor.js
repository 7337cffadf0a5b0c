// The workflow editor: clicking a problem selects its line in the definition's textarea.
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var item = ev.target.closest("[data-testid=validation-errors] [data-line]");
    var area = document.querySelector("textarea[data-testid=definition]");
    var line = item && parseInt(item.getAttribute("data-line"), 10);
    if (!area || !line) { return; }
    var lines = area.value.split("\n");
    var start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
    area.focus();
    area.setSelectionRange(start, start + (lines[line - 1] || "").length);
  });
})();
