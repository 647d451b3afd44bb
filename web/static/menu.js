// The menu starts folded on small screens (open without JavaScript, so it always works).
(function () {
  "use strict";
  const menu = document.getElementById("menu");
  if (menu && window.matchMedia("(max-width: 720px)").matches) { menu.open = false; }
})();
