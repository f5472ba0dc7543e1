/* mars-zoo leaderboard: sort tables by clicking a column header, filter rows, show the two
   results chosen on the comparison page, and keep focused elements clear of sticky ones.
   The page is complete without this script (every row is pre-rendered); it only reorders
   rows by their cells' data-sort values, hides rows that fail the filters and columns not
   chosen. It makes no request and reads nothing but the page itself. */
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
    button.querySelector(".sort-order").textContent = ", " + button.getAttribute("data-spoken") + ", sort " + order;
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

  /* Sticky elements never hide the focused element. The page keeps it below the filter bar where
     the bar sticks (scroll-padding-top), a table region below its header row and right of its
     sticky model column (the scroll margins of its cells' controls, --sticky-head and
     --sticky-left). The browser scrolls a focused element into view only when less than a few
     dozen pixels of it show; on keyboard focus the script scrolls it fully into view. */
  function keepFocusInSight() {
    var bar = document.querySelector(".filters");
    if (bar && getComputedStyle(bar).position === "sticky") {
      root.style.setProperty("--sticky-top", (bar.offsetHeight + 8) + "px");
    } else {
      root.style.removeProperty("--sticky-top");
    }
    Array.prototype.forEach.call(document.querySelectorAll(".table-scroll"), function (region) {
      var head = region.querySelector("thead");
      var model = region.querySelector("thead th.model-col");
      region.style.setProperty("--sticky-head", (head ? head.offsetHeight : 0) + "px");
      region.style.setProperty("--sticky-left", (model && getComputedStyle(model).position === "sticky"
        ? model.offsetWidth : 0) + "px");
    });
  }

  document.addEventListener("focusin", function (event) {
    var target = event.target;
    if (target !== document.body && target.matches(":focus-visible")) {
      target.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  });
  keepFocusInSight();
  window.addEventListener("resize", keepFocusInSight);

  /* The comparison page: the two chosen results' columns, side by side in the chosen order, the
     better value of each row bold, both where their 95% intervals overlap (marked as a tie). */
  var compareForm = document.getElementById("compare-form");

  function number(cell, name) {
    var raw = cell.getAttribute(name);
    return raw === null || raw === "" ? null : parseFloat(raw);
  }

  function markPair(row, first, second) {
    [first, second].forEach(function (cell) {
      cell.classList.remove("best", "tie");
      var old = cell.querySelector(".pair-tie");
      if (old) {
        old.parentNode.removeChild(old);
      }
    });
    var better = row.getAttribute("data-better");
    var a = number(first, "data-sort");
    var b = number(second, "data-sort");
    if (!better || a === null || b === null || first === second) {
      return;
    }
    var tied = a === b || (number(first, "data-low") !== null && number(second, "data-low") !== null
      && number(first, "data-low") <= number(second, "data-high")
      && number(second, "data-low") <= number(first, "data-high"));
    if (tied) {
      [first, second].forEach(function (cell) {
        cell.classList.add("best", "tie");
        var mark = document.createElement("span");
        mark.className = "ci-overlap pair-tie";
        mark.title = compareForm.getAttribute("data-tie");
        mark.textContent = "\u2248";
        cell.insertBefore(mark, cell.firstChild.nextSibling);
      });
    } else {
      ((better === "higher") === (a > b) ? first : second).classList.add("best");
    }
  }

  function showPair() {
    var chosen = [compareForm.elements.a.value, compareForm.elements.b.value];
    Array.prototype.forEach.call(document.querySelectorAll("table.compare tr"), function (row) {
      var cells = {};
      Array.prototype.forEach.call(row.querySelectorAll("[data-entry]"), function (cell) {
        var key = cell.getAttribute("data-entry");
        cells[key] = cell;
        cell.hidden = chosen.indexOf(key) === -1;
      });
      chosen.forEach(function (key) {
        if (cells[key]) {
          row.appendChild(cells[key]);
        }
      });
      if (row.parentNode.tagName === "TBODY" && cells[chosen[0]] && cells[chosen[1]]) {
        markPair(row, cells[chosen[0]], cells[chosen[1]]);
      }
    });
    keepFocusInSight();
  }

  if (compareForm) {
    var wanted = new URLSearchParams(location.search);
    ["a", "b"].forEach(function (name) {
      var select = compareForm.elements[name];
      var value = wanted.get(name);
      if (value && select.querySelector('option[value="' + CSS.escape(value) + '"]')) {
        select.value = value;
      }
    });
    showPair();
    compareForm.addEventListener("input", function () {
      showPair();
      var params = new URLSearchParams();
      params.set("a", compareForm.elements.a.value);
      params.set("b", compareForm.elements.b.value);
      try {
        history.replaceState(null, "", location.pathname + "?" + params.toString() + location.hash);
      } catch (error) {
        /* some browsers refuse it for file: pages; the view still works */
      }
    });
    compareForm.addEventListener("submit", function (event) {
      event.preventDefault();
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
