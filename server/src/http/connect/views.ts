/** The connect pages' one page: a title and a sentence, in the admin console's stylesheet; no script. */
import { barePage } from '../admin-console/layout.ts';
import { h } from '../admin-console/markup.ts';

export const connectPage = (title: string, text: string): string =>
  barePage(undefined, title, h`<main><h1>${title}</h1><p>${text}</p></main>`);
