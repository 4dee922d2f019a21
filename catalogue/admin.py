from django.contrib import admin

from catalogue.models import Airport, Category, DailySales, Product, WeatherDay


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category", "unit_price", "active"]
    list_filter = ["active", "category"]
    list_select_related = ["category"]
    search_fields = ["sku", "name"]


@admin.register(DailySales)
class DailySalesAdmin(admin.ModelAdmin):
    list_display = ["day", "store_code", "sku", "units", "unit_price", "revenue", "currency"]
    list_filter = ["day", "currency"]
    search_fields = ["sku", "store_code"]
    date_hierarchy = "day"
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is slow


@admin.register(Airport)
class AirportAdmin(admin.ModelAdmin):
    list_display = ["iata", "name", "city", "state", "country"]
    list_filter = ["country"]
    search_fields = ["iata", "name", "city"]


@admin.register(WeatherDay)
class WeatherDayAdmin(admin.ModelAdmin):
    list_display = [
        "day",
        "weather",
        "temp_max",
        "temp_min",
        "precipitation",
        "wind",
        "imported_at",
    ]
    list_filter = ["weather"]
    date_hierarchy = "day"
