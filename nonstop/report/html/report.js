(function () {
  "use strict";
  var svg = document.getElementById("chart");
  if (!svg) { return; }
  var t0 = parseFloat(svg.dataset.t0), t1 = parseFloat(svg.dataset.t1), zero = parseFloat(svg.dataset.zero);
  var x0 = parseFloat(svg.dataset.x0), x1 = parseFloat(svg.dataset.x1);
  var cursor = document.getElementById("cursor"), label = document.getElementById("cursor-label");
  svg.addEventListener("mousemove", function (event) {
    var box = svg.getBoundingClientRect(), scale = svg.viewBox.baseVal.width / box.width;
    var x = (event.clientX - box.left) * scale;
    if (x < x0 || x > x1) {
      cursor.setAttribute("visibility", "hidden"); label.setAttribute("visibility", "hidden"); return;
    }
    var t = t0 + (x - x0) / (x1 - x0) * (t1 - t0), offset = t - zero;
    cursor.setAttribute("x1", x); cursor.setAttribute("x2", x); cursor.setAttribute("visibility", "visible");
    label.setAttribute("x", x + 4); label.setAttribute("visibility", "visible");
    label.textContent = "t" + (offset < 0 ? "\u2212" : "+") + Math.abs(offset).toFixed(2) + " s  " +
      new Date(t * 1000).toISOString().substring(11, 23) + " UTC";
  });
  svg.addEventListener("mouseleave", function () {
    cursor.setAttribute("visibility", "hidden"); label.setAttribute("visibility", "hidden");
  });
  function highlight(pod, on) {
    document.querySelectorAll("[data-pod]").forEach(function (element) {
      if (element.getAttribute("data-pod") === pod) { element.classList.toggle("hl", on); }
    });
  }
  document.querySelectorAll("[data-pod]").forEach(function (element) {
    var pod = element.getAttribute("data-pod");
    element.addEventListener("mouseenter", function () { highlight(pod, true); });
    element.addEventListener("mouseleave", function () { highlight(pod, false); });
  });
})();
