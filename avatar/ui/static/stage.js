// The presenter's player (stage.html; `element` is its Gradio component), and the previews that
// reuse it (a finished file, no listening loop). The answer's video has
// no native controls (they would cover the "AI-generated" label), a replay button once it has
// played; a live answer is fetched and fed to Media Source Extensions as its fragments arrive (a
// <video src> waits for the whole file). A new value (`n`) aborts the previous stream, which
// frees its render when nobody else watches.
let shown = null, reading = null;
const codecs = 'video/mp4; codecs="avc1.640028, mp4a.40.2"';
function stream(video, url) {
  const Source = window.ManagedMediaSource || window.MediaSource;
  const source = new Source();
  reading = new AbortController();
  const signal = reading.signal;
  video.disableRemotePlayback = true;
  video.src = URL.createObjectURL(source);
  source.addEventListener('sourceopen', async () => {
    const buffer = source.addSourceBuffer(codecs);
    const queue = [];
    let finished = false;
    const next = () => {
      if (buffer.updating || source.readyState !== 'open') return;
      if (queue.length) buffer.appendBuffer(queue.shift());
      else if (finished) source.endOfStream();
    };
    buffer.addEventListener('updateend', next);
    try {
      const reader = (await fetch(url, {signal})).body.getReader();
      for (;;) {
        const {done, value} = await reader.read();
        if (done) break;
        queue.push(value);
        next();
      }
    } catch (e) { if (signal.aborted) return; }
    finished = true;
    next();
  }, {once: true});
}
function show() {
  const stage = element.querySelector('.presenter-stage');
  if (!stage || stage.dataset.n === shown) return;
  shown = stage.dataset.n;
  const video = stage.querySelector('video.answer'), replay = stage.querySelector('.replay');
  if (reading) { reading.abort(); reading = null; }
  replay.hidden = true;
  video.classList.remove('shown');
  video.hidden = true;  // shown once it plays: until then (and after it) he listens
  if (!stage.dataset.answer) { video.removeAttribute('src'); video.load(); return; }
  // On a phone (the presenter pinned at the top), the chat is brought up under him: the answer
  // he is saying shows whole between him and the message box.
  if (element.closest('#presenter') && window.matchMedia('(max-width: 640px)').matches) {
    const chat = document.querySelector('#chat'), pinned = document.querySelector('#presenter');
    window.scrollBy(0, chat.getBoundingClientRect().top - pinned.getBoundingClientRect().bottom - 8);
  }
  video.onplaying = () => {
    video.hidden = false;
    requestAnimationFrame(() => video.classList.add('shown'));  // fades in over the listening loop
  };
  video.onended = () => {
    video.classList.remove('shown');  // fades out to the listening loop, then leaves the stage
    setTimeout(() => { if (video.ended) video.hidden = true; }, 250);
    replay.hidden = false;
  };
  replay.onclick = () => { replay.hidden = true; video.currentTime = 0; video.play(); };
  const streamable = window.ManagedMediaSource || window.MediaSource;
  if (stage.dataset.live === 'true' && streamable) stream(video, stage.dataset.answer);
  else video.src = stage.dataset.answer;
  video.play().catch(() => { replay.hidden = false; });
}
new MutationObserver(show).observe(element, {childList: true, subtree: true, attributes: true});
show();
