// foobar.com: progressive enhancement only; every form works without this script.
// Shows how many characters a post has left.
(() => {
  const body = document.querySelector('textarea[name="body"]');
  const count = document.querySelector('output.count');
  if (!body || !count) return;
  const limit = Number(body.getAttribute('maxlength')) || 2000;
  const update = () => {
    count.textContent = `${limit - body.value.length} characters left`;
  };
  body.addEventListener('input', update);
  update();
})();
