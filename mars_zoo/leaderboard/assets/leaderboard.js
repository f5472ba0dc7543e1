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
      sortTable(header.closest("table"), header);
      saveState();
    });
  });

  var form = document.getElementById("filters");
  var output = document.getElementById("filter-count");
  var selects = form ? Array.prototype.slice.call(form.querySelectorAll("select")) : [];

  function matches(element) {
    var query = form.elements.q.value.trim().toLowerCase();
    return selects.every(function (select) {
      return !select.value || element.getAttribute("data-" + select.name) === select.value;
    }) && (!query || element.getAttribute("data-name").indexOf(query) !== -1);
  }

  function show(mark, visible) {
    if (visible) {
      mark.removeAttribute("display");
    } else {
      mark.setAttribute("display", "none");
    }
  }

  /* A bar chart keeps only the groups of shown results, moved up, and shrinks to them. */
  function layoutBars(svg, shown) {
    var top = parseFloat(svg.getAttribute("data-top"));
    var group = parseFloat(svg.getAttribute("data-group"));
    var count = 0;
    Array.prototype.forEach.call(svg.querySelectorAll("g[data-entry]"), function (row) {
      var visible = shown[row.getAttribute("data-entry")] === true;
      show(row, visible);
      if (visible) {
        row.setAttribute("transform", "translate(0 " + (top + count * group) + ")");
        count += 1;
      }
    });
    var bottom = top + count * group;
    Array.prototype.forEach.call(svg.querySelectorAll("line.grid"), function (line) {
      line.setAttribute("y2", bottom);
    });
    Array.prototype.forEach.call(svg.querySelectorAll("text.tick"), function (tick) {
      tick.setAttribute("y", bottom + 16);
    });
    var box = svg.getAttribute("viewBox").split(" ");
    box[3] = String(bottom + 26);
    svg.setAttribute("viewBox", box.join(" "));
    svg.setAttribute("height", box[3]);
  }

  function applyFilters() {
    var shown = {};
    var all = {};
    Array.prototype.forEach.call(document.querySelectorAll("table.filterable"), function (table) {
      var visibleRows = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var visible = matches(row);
        row.hidden = !visible;
        visibleRows += visible ? 1 : 0;
        var key = row.getAttribute("data-entry");
        shown[key] = shown[key] || visible;
        if (!row.hasAttribute("data-synthetic")) {
          all[key] = true;
        }
      });
      var message = document.querySelector('p.no-match[data-for="' + table.id + '"]');
      if (message) {
        message.hidden = visibleRows > 0;
      }
    });
    Array.prototype.forEach.call(document.querySelectorAll("svg.chart"), function (svg) {
      if (svg.hasAttribute("data-group")) {
        layoutBars(svg, shown);
      } else {
        Array.prototype.forEach.call(svg.querySelectorAll("[data-entry]"), function (mark) {
          show(mark, shown[mark.getAttribute("data-entry")] === true);
        });
      }
    });
    var counted = Object.keys(all).filter(function (key) { return shown[key]; }).length;
    output.textContent = counted + " of " + Object.keys(all).length + " results shown";
  }

  /* The view lives in the address: ?family=...&q=...&sort=<table id>.<column>.<asc|desc>, so
     a link (or a reload) gives the same view. */
  function saveState() {
    var params = new URLSearchParams();
    if (form) {
      if (form.elements.q.value) {
        params.set("q", form.elements.q.value);
      }
      selects.forEach(function (select) {
        if (select.value) {
          params.set(select.name, select.value);
        }
      });
    }
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable thead th[aria-sort]"), function (th) {
      params.append("sort", th.closest("table").id + "." + th.getAttribute("data-col") + "."
        + (th.getAttribute("aria-sort") === "ascending" ? "asc" : "desc"));
    });
    var query = params.toString();
    try {
      history.replaceState(null, "", location.pathname + (query ? "?" + query : "") + location.hash);
    } catch (error) {
      /* some browsers refuse it for file: pages; the view still works */
    }
  }

  function restoreState() {
    var params = new URLSearchParams(location.search);
    if (form) {
      form.elements.q.value = params.get("q") || "";
      selects.forEach(function (select) {
        var wanted = params.get(select.name);
        if (wanted && select.querySelector('option[value="' + CSS.escape(wanted) + '"]')) {
          select.value = wanted;
        }
      });
    }
    params.getAll("sort").forEach(function (item) {
      var parts = item.split(".");
      var table = document.getElementById(parts[0]);
      var header = table && table.querySelector('thead th[data-col="' + CSS.escape(parts[1] || "") + '"]');
      if (header && header.querySelector("button.sort")) {
        header.setAttribute("aria-sort", parts[2] === "asc" ? "descending" : "ascending");
        sortTable(table, header);  /* toggles to the saved order */
      }
    });
  }

  restoreState();
  if (!form) {
    return;
  }
  form.addEventListener("input", function () {
    applyFilters();
    saveState();
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
  });
  applyFilters();
})();
