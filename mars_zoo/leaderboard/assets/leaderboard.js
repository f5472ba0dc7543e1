/* mars-zoo leaderboard: sort tables by clicking a column header, filter rows.
   The page is complete without this script (every row is pre-rendered); it only reorders
   rows by their cells' data-sort values and hides rows that fail the filters. It makes no
   request and reads nothing but the page itself. */
(function () {
  "use strict";

  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");

  function sortValue(cell, type) {
    var raw = cell ? cell.getAttribute("data-sort") : null;
    if (raw === null || raw === "") {
      return null;
    }
    if (type === "number") {
      var number = parseFloat(raw);
      return isNaN(number) ? null : number;
    }
    return raw;
  }

  function compare(a, b, type) {
    if (type === "number") {
      return a - b;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  }

  /* A sort button's name says what it sorts and the order its next click gives (the same
     words as the build writes for the first click). */
  function nextAscending(header) {
    var current = header.getAttribute("aria-sort");
    return current ? current === "descending" : header.getAttribute("data-better") === "lower";
  }

  function nameButton(header) {
    var button = header.querySelector("button.sort");
    var ascending = nextAscending(header);
    var order = header.getAttribute("data-type") === "text" ? (ascending ? "A to Z" : "Z to A")
      : (ascending ? "lower first" : "higher first");
    button.setAttribute("aria-label", "Sort by " + button.getAttribute("data-spoken") + ", " + order);
  }

  /* The first click puts the best first (data-better), the next ones toggle. Missing values
     always go last; equal values keep their previous order. */
  function sortTable(table, header) {
    var column = parseInt(header.getAttribute("data-col"), 10);
    var type = header.getAttribute("data-type");
    var ascending = nextAscending(header);
    Array.prototype.forEach.call(table.querySelectorAll("thead th[aria-sort]"), function (other) {
      other.removeAttribute("aria-sort");
      nameButton(other);
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    nameButton(header);
    var body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row, index) {
      return { row: row, index: index, value: sortValue(row.cells[column], type) };
    });
    keyed.sort(function (a, b) {
      if (a.value === null || b.value === null) {
        return a.value === b.value ? a.index - b.index : a.value === null ? 1 : -1;
      }
      var order = compare(a.value, b.value, type);
      return order === 0 ? a.index - b.index : ascending ? order : -order;
    });
    keyed.forEach(function (item) {
      body.appendChild(item.row);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable thead button.sort"), function (button) {
    button.addEventListener("click", function () {
      var header = button.parentNode;
      var table = header.closest("table");
      sortTable(table, header);
    });
  });

  var form = document.getElementById("filters");
  if (!form) {
    return;
  }
  var names = ["family", "modality", "provenance"];
  var output = document.getElementById("filter-count");

  function applyFilters() {
    var shown = {};
    var all = {};
    Array.prototype.forEach.call(document.querySelectorAll("table.filterable tbody tr"), function (row) {
      var visible = names.every(function (name) {
        var wanted = form.elements[name].value;
        return !wanted || row.getAttribute("data-" + name) === wanted;
      });
      row.hidden = !visible;
      var link = row.querySelector("a.model");
      var key = link ? link.getAttribute("href") : "";
      all[key] = true;
      if (visible) {
        shown[key] = true;
      }
    });
    output.textContent = Object.keys(shown).length + " of " + Object.keys(all).length + " results shown";
  }

  form.addEventListener("change", applyFilters);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
  });
  applyFilters();
})();
