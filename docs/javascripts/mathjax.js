// MathJax settings for pymdownx.arithmatex (generic mode), as the Material theme documents them.
window.MathJax = {
  tex: {inline: [["\\(", "\\)"]], display: [["\\[", "\\]"]], processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"},
};
