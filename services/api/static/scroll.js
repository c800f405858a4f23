// tgpipe web viewer: the infinite scroll of a list marked data-scroll (a timeline, both ways; search
// results, forwards). Each "Older messages" / "Newer messages" / "More results" link is a plain link
// to the previous or next page; when it comes near the viewport this script fetches its HTML fragment
// (data-fragment) instead and puts the items in its place. The fragment is parsed inert (DOMParser:
// no script runs) and holds escaped text only.
(function () {
  "use strict";
  var timeline = document.querySelector("ol[data-scroll]");
  if (!timeline) { return; }

  function dayOf(node) { return node && node.dataset ? node.dataset.day : undefined; }

  function insert(sentinel, nodes) {
    var older = sentinel.dataset.direction === "older";
    if (older) {
      // The fragment ends with messages of the day the timeline's first separator opens: keep one.
      var next = sentinel.nextElementSibling;
      var last = nodes[nodes.length - 1];
      if (next && next.classList.contains("day") && dayOf(next) === dayOf(last)) { next.remove(); }
      var before = document.documentElement.scrollHeight;
      sentinel.replaceWith.apply(sentinel, nodes);
      window.scrollBy(0, document.documentElement.scrollHeight - before);  // keep what was on screen in place
    } else {
      var previous = sentinel.previousElementSibling;
      var first = nodes[0];
      if (first && first.classList.contains("day") && dayOf(first) === dayOf(previous)) { nodes.shift(); }
      sentinel.replaceWith.apply(sentinel, nodes);
    }
  }

  function load(sentinel) {
    var link = sentinel.querySelector("a[data-fragment]");
    sentinel.setAttribute("aria-busy", "true");
    fetch(link.dataset.fragment, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected) { window.location.assign(response.url); throw new Error("signed out"); }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var parsed = new DOMParser().parseFromString("<ol>" + html + "</ol>", "text/html");
        var nodes = Array.prototype.slice.call(parsed.body.firstElementChild.children);
        nodes = nodes.map(function (node) { return document.adoptNode(node); });
        insert(sentinel, nodes);
        nodes.forEach(function (node) { if (node.classList.contains("more")) { observer.observe(node); } });
      })
      .catch(function () {
        sentinel.removeAttribute("aria-busy");
        link.textContent = link.textContent + " (loading failed: follow the link)";
      });
  }

  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) { observer.unobserve(entry.target); load(entry.target); }
    });
  }, { rootMargin: "300px 0px" });

  var focus = timeline.querySelector("[data-focus]");
  if (focus && !window.location.hash) {
    // A message taller than most of the screen shows from its start (below the sticky header: scroll-margin-top).
    var tall = focus.getBoundingClientRect().height > window.innerHeight * 0.6;
    focus.scrollIntoView({ block: tall ? "start" : "center" });
  }
  timeline.querySelectorAll("li.more").forEach(function (sentinel) { observer.observe(sentinel); });
})();
