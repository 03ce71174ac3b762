/**
 * The admin console's one stylesheet, served as `${base}/assets/console.css` (the CSP allows `style-src 'self'`
 * and nothing inline). The spirit of the sign-in pages (pages.ts): a system font, calm colours, readable; wider
 * for tables. Outcomes and states carry a word and a mark, never a colour alone; focus is always visible.
 */
export const CONSOLE_CSS = `
:root{--fg:#1b1b1f;--muted:#55566a;--line:#d9d9e0;--soft:#f4f4f7;--accent:#2f4fb5;--ok:#1d6b3a;--warn:#8a4b00;
--bad:#a3152a;--bg:#fff}
*{box-sizing:border-box}
html{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
body{margin:0}
a{color:var(--accent)}
a:hover{text-decoration-thickness:2px}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px;border-radius:2px}
.skip{position:absolute;left:-999rem;top:.5rem;background:var(--bg);padding:.4rem .8rem;border:2px solid var(--accent)}
.skip:focus{left:.5rem;z-index:10}
.top{border-bottom:1px solid var(--line);background:var(--soft)}
.bar{max-width:72rem;margin:0 auto;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center}
.brand{font-weight:700;color:var(--fg);text-decoration:none}
.top nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem 1rem}
.top nav a{text-decoration:none;padding:.2rem 0;border-bottom:2px solid transparent}
.top nav a[aria-current=page]{color:var(--fg);font-weight:600;border-bottom-color:var(--fg)}
.sign-out{margin-left:auto;display:flex;gap:.6rem;align-items:center}
.who{color:var(--muted)}
main{display:block;max-width:72rem;margin:1.5rem auto 3rem;padding:0 1rem}
main:focus{outline:none}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:2rem 0 .6rem}
h3{font-size:1.05rem;margin:1.4rem 0 .4rem}
.sub{color:var(--muted);margin-top:-.6rem}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);padding:.05rem .3rem;
border-radius:3px;overflow-wrap:anywhere}
code.kw{white-space:nowrap}
.none{color:var(--muted);font-style:italic}
.note{border-left:4px solid var(--line);padding:.3rem .8rem;color:var(--muted);max-width:48rem}
.empty{color:var(--muted)}
.flash{border:2px solid var(--ok);background:#eef7f1;padding:.5rem .8rem;border-radius:4px}
.flash::before{content:"\\2713\\00a0"}
.table-wrap{overflow-x:auto;margin:.4rem 0 1rem}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;font-weight:600;padding:.2rem 0 .4rem;color:var(--muted)}
th,td{text-align:left;vertical-align:top;padding:.35rem .6rem;border-bottom:1px solid var(--line)}
thead th{border-bottom:2px solid var(--fg);white-space:nowrap}
tbody th{font-weight:500}
tbody tr:hover{background:var(--soft)}
td ul,th ul{margin:0;padding-left:1rem}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.6rem 1.5rem;margin:0}
.facts div{border-left:3px solid var(--line);padding-left:.6rem}
.facts dt{color:var(--muted);font-size:.85rem}
.facts dd{margin:0}
.stats{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));gap:1rem}
.stats li{border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem}
.figure{display:block;font-size:2rem;font-weight:650;line-height:1.2}
.tag{display:inline-block;font-size:.8rem;font-weight:600;padding:0 .4rem;border:1px solid;border-radius:3px;
text-transform:uppercase;letter-spacing:.03em}
.tag-warn{color:var(--bad)}
.tag-ok{color:var(--ok)}
.tag-info{color:var(--muted)}
.outcome{display:inline-block;font-size:.85rem;font-weight:600;padding:0 .4rem;border-radius:3px;white-space:nowrap}
.outcome-success{color:var(--ok);border:1px solid}
.outcome-success::before{content:"\\2713\\00a0"}
.outcome-refused{color:var(--bad);border:2px solid}
.outcome-refused::before{content:"\\2717\\00a0"}
.outcome-failure{color:var(--warn);border:2px dashed}
.outcome-failure::before{content:"!\\00a0"}
.outcome-other{color:var(--muted);border:1px dotted}
form.filters{display:grid;grid-template-columns:repeat(auto-fill,minmax(13rem,1fr));gap:.6rem 1rem;
background:var(--soft);padding:1rem;border-radius:6px}
.field label{display:block;font-size:.9rem;font-weight:600}
.field small{display:block;color:var(--muted);font-size:.8rem}
input,select,button{font:inherit}
input[type=text],input[type=search],select{width:100%;padding:.3rem .45rem;border:1px solid #8d8e9c;border-radius:4px;
background:var(--bg)}
.buttons{display:flex;gap:1rem;align-items:end}
button{padding:.35rem .9rem;border:1px solid var(--fg);border-radius:4px;background:var(--bg);color:var(--fg);
cursor:pointer}
button:hover{background:var(--soft)}
button.danger{border:2px solid var(--bad);color:var(--bad);font-weight:600}
form.action{margin:.6rem 0}
.actions{display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(20rem,1fr))}
.actions section{border:1px solid var(--line);border-radius:6px;padding:0 1rem .6rem}
.actions section.danger-zone{border:2px solid var(--bad)}
.confirm{display:flex;gap:.5rem;align-items:flex-start}
.confirm input{margin-top:.3rem}
.pager{display:flex;gap:1rem;margin:.5rem 0 1rem}
.tree,.tree ul{list-style:none;margin:0;padding-left:1.4rem}
.tree{padding-left:0}
.tree li{position:relative;margin:.3rem 0}
.tree ul>li{border-left:2px solid var(--line);padding-left:.9rem}
.node-head{margin:.2rem 0;font-weight:600}
.node-kind{display:inline-block;font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);
margin-right:.4rem}
.node-facts{margin:.1rem 0 .3rem;color:var(--muted);font-size:.92rem}
.events{list-style:none;padding-left:0;margin:.2rem 0 .4rem}
.events li{font-size:.92rem}
.tree .events>li{border-left:none;padding-left:0}
.hops{margin:.3rem 0 .8rem;padding-left:1.2rem}
.meta{color:var(--muted);font-size:.9rem}
@media (max-width:40rem){.sign-out{margin-left:0}.figure{font-size:1.6rem}}
@media (prefers-reduced-motion:reduce){*{transition:none!important}}
`;
