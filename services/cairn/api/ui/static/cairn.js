/* Cairn web UI: the little that needs a script. Every page works without it.
   - lineage: zoom buttons scale the inline SVG, whose box scrolls;
   - search: a ticked facet applies at once; the search box suggests names, tags and
     metrics (GET /ui/suggest, the JSON api's /v1/suggest as the signed-in caller);
   - compare: a box hides the rows where the versions agree. */
(function () {
  "use strict";

  function zoom() {
    var view = document.querySelector(".lineage-view");
    var svg = view && view.querySelector("svg");
    var tools = document.querySelector(".zoom");
    if (!svg || !tools) return;
    var width = parseFloat(svg.getAttribute("width"));
    var height = parseFloat(svg.getAttribute("height"));
    if (!width || !height) return;
    var scale = 1;
    function apply() {
      svg.setAttribute("width", (width * scale).toFixed(1) + "pt");
      svg.setAttribute("height", (height * scale).toFixed(1) + "pt");
      view.setAttribute("data-scale", scale.toFixed(2));
    }
    tools.hidden = false;
    tools.addEventListener("click", function (event) {
      var how = event.target.getAttribute("data-zoom");
      if (how === "in") scale = Math.min(scale * 1.25, 4);
      else if (how === "out") scale = Math.max(scale / 1.25, 0.2);
      else if (how === "reset") scale = 1;
      else if (how === "fit") scale = Math.min(1, (view.clientWidth - 4) / (width * 4 / 3));
      else return;
      apply();
    });
  }

  function facets() {
    var form = document.querySelector("form.search");
    if (!form) return;
    form.addEventListener("change", function (event) {
      var box = event.target;
      if (box.type === "checkbox" || box.name === "sort") {
        form.classList.add("busy");
        form.requestSubmit ? form.requestSubmit() : form.submit();
      }
    });
  }

  function suggestions() {
    var input = document.querySelector("input[list=suggestions]");
    var list = document.getElementById("suggestions");
    if (!input || !list) return;
    var timer = null, asked = "";
    function ask(field, prefix) {
      var url = "/ui/suggest?field=" + field + "&size=5&prefix=" + encodeURIComponent(prefix);
      return fetch(url, {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : {suggestions: []}; })
        .then(function (body) {
          return body.suggestions.map(function (s) { return {value: s.value, field: field}; });
        })
        .catch(function () { return []; });
    }
    function fill(prefix) {
      Promise.all(["name", "tag", "metric"].map(function (f) { return ask(f, prefix); }))
        .then(function (groups) {
          if (prefix !== asked) return;  // a later keystroke won
          list.textContent = "";
          groups.forEach(function (group) {
            group.forEach(function (s) {
              var option = document.createElement("option");
              option.value = s.value;
              option.label = s.field;
              list.appendChild(option);
            });
          });
        });
    }
    input.addEventListener("input", function () {
      var prefix = input.value.trim();
      clearTimeout(timer);
      if (!/[A-Za-z0-9]/.test(prefix) || prefix.length > 100) return;
      timer = setTimeout(function () { asked = prefix; fill(prefix); }, 150);
    });
  }

  function differences() {
    var toggle = document.querySelector("input.only-differences");
    var table = document.querySelector("table.compare");
    if (!toggle || !table) return;
    toggle.parentNode.hidden = false;
    toggle.addEventListener("change", function () {
      table.classList.toggle("only-differences", toggle.checked);
    });
  }

  zoom();
  facets();
  suggestions();
  differences();
})();
