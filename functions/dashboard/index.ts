export { createDashboard, type DashboardDeps } from './routes.js';
