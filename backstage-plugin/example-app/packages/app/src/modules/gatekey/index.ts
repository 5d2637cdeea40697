export { gatekeyApiDocsModule } from './apiDocsModule';
